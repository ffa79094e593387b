import Foundation
import SpyglassCore
import SpyglassProtocol

/// An event as the ports return it, comparable.
struct EventDigest: Hashable, CustomStringConvertible {
    var eventID: String
    var projectID: Int64
    var issueID: Int64?
    var timestamp: Date
    var received: Date
    var payload: JSONValue
    var hash: String?

    init(_ event: EventInfo) {
        (eventID, projectID, issueID, timestamp, received, payload, hash) =
            (event.eventID, event.projectID, event.issueID, event.timestamp, event.received, event.payload, event.hash)
    }

    var description: String { "event \(eventID) of issue \(issueID.map(String.init) ?? "-")" }
}

/// An activity entry, comparable; `withID` false leaves the id out (ids of rows written after a copy may differ:
/// SQLite reuses the highest deleted id, an identity never does), `date` nil for entries dated by the clock.
struct ActivityDigest: Hashable {
    var id: Int64?
    var kind: ActivityKind
    var user: APIUser?
    var data: JSONValue
    var date: Date?

    init(_ activity: ActivityInfo, withID: Bool = true) {
        id = withID ? activity.id : nil
        kind = activity.kind
        user = activity.user
        data = activity.data
        // Merges are dated by the wall clock.
        date = activity.kind == .merge ? nil : activity.date
    }
}

struct AttachmentDigest: Hashable {
    var id: Int64
    var filename: String
    var contentType: String
    var size: Int

    init(_ attachment: AttachmentInfo) {
        (id, filename, contentType, size) = (
            attachment.id, attachment.filename, attachment.contentType, attachment.size
        )
    }
}

/// Everything the issue and event ports tell about the issues of some projects.
struct StoreSnapshot: Equatable {
    var issues: [IssueInfo] = []
    var tags: [Int64: [TagSummary]] = [:]
    var hashes: [Int64: [String]] = [:]
    var events: [Int64: [EventDigest]] = [:]
    var activities: [Int64: [ActivityDigest]] = [:]
    var hourly: [Int64: [Int64: Int]] = [:]
    var eventMark: Int64 = 0

    static func take(_ store: TestStore, projectIDs: [Int64], userID: Int64, withActivityIDs: Bool = true) async throws
        -> StoreSnapshot
    {
        var snapshot = StoreSnapshot()
        snapshot.issues = try await store.issues.issues(
            IssueListRequest(
                projectIDs: projectIDs, query: IssueQuery(), sort: .date, limit: 1000, offset: 0, userID: userID))
        let ids = snapshot.issues.map(\.id)
        for id in ids {
            snapshot.tags[id] = try await store.issues.tags(issueID: id, top: 10)
            snapshot.hashes[id] = try await store.issues.hashes(issueID: id)
            snapshot.events[id] = try await store.events.events(issueID: id, limit: 1000, offset: 0).map(
                EventDigest.init)
            snapshot.activities[id] = try await store.issues.activities(issueID: id).map {
                ActivityDigest($0, withID: withActivityIDs)
            }
        }
        snapshot.hourly = try await store.issues.hourlyCounts(
            issueIDs: ids, since: IssueFixture.now.addingTimeInterval(-60 * 86400))
        snapshot.eventMark = try await store.events.eventMark()
        return snapshot
    }
}

/// What a call answered: its value, or the message of the ``DomainError`` it threw.
enum Outcome<Value: Equatable>: Equatable {
    case value(Value)
    case failure(DomainError.Kind, String)

    init(_ body: () async throws -> Value) async throws {
        do {
            self = .value(try await body())
        } catch let error as DomainError {
            self = .failure(error.kind, error.message)
        }
    }
}
