import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage
import SpyglassStorageKit

/// Issues of two projects, stored through SQLite's real ingest writer from raw event bytes (so payloads are
/// stored compactly, against their hash's dictionary), with users, tags, releases, attachments, an assignee, an
/// ignored issue and a regression.
struct IssueFixture: Sendable {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    let defaultProject: Int64 = 1
    let backendProject: Int64 = 2
    var adminID: Int64 = 0
    var developerID: Int64 = 0
    /// `TypeError: foo.bar is undefined`: three events, users u1 and u2, releases 1.0.0 and 1.1.0, assigned to the developer.
    var typeError: Int64 = 0
    /// `Connection refused to db-1`, a warning: two events.
    var connection: Int64 = 0
    /// `KeyError` in shop.orders: one event, with two attachments.
    var keyError: Int64 = 0
    /// Resolved, then regressed in 1.1.0.
    var regressed: Int64 = 0
    /// Ignored until 5 more events; one came, in the hour of the connection issue's latest event.
    var ignored: Int64 = 0
    /// The backend project's only issue (the newest id: never deleted, so new ids agree across backends).
    var backendIssue: Int64 = 0

    var issueIDs: [Int64] { [typeError, connection, keyError, regressed, ignored, backendIssue] }
    /// Every stored event id.
    var eventIDs: [String] { (1...11).map(Self.eventID) }
    /// The event the attachments came with.
    var attachmentEvent: String { Self.eventID(6) }

    static func eventID(_ n: Int) -> String { String(repeating: "0", count: 30) + String(format: "%02x", n) }

    /// Event `n` from its JSON fields, `hoursAgo` before ``now``, with its raw bytes as the HTTP layer keeps them.
    static func event(_ n: Int, hoursAgo: Double, _ fields: String) throws -> NormalizedEvent {
        let id = eventID(n)
        let json = #"{"event_id":"\#(id)","timestamp":\#(now.timeIntervalSince1970 - hoursAgo * 3600),\#(fields)}"#
        let bytes = Array(json.utf8)
        var event = try EventNormalizer().normalize(
            JSONParser.parse(bytes), context: .init(envelopeEventID: id, received: now.addingTimeInterval(Double(n))))
        event.raw = bytes
        return event
    }

    static func exception(
        _ type: String, _ value: String, function: String, module: String, release: String, environment: String,
        user: String? = nil, tags: String = "{}", level: String = "error"
    ) -> String {
        #""platform":"python","level":"\#(level)","release":"\#(release)","environment":"\#(environment)","tags":\#(tags),"#
            + (user.map { #""user":{"id":"\#($0)","email":"\#($0.uppercased())@Example.com"},"# } ?? "")
            + #""exception":{"values":[{"type":"\#(type)","value":"\#(value)","stacktrace":{"frames":["#
            + #"{"function":"\#(function)","module":"\#(module)","filename":"\#(module).py","lineno":42,"in_app":true}]}}]}"#
    }

    static func message(_ text: String, level: String, release: String, environment: String, user: String? = nil)
        -> String
    {
        #""platform":"python","level":"\#(level)","release":"\#(release)","environment":"\#(environment)","#
            + (user.map { #""user":{"id":"\#($0)"},"# } ?? "") + #""message":"\#(text)""#
    }

    static func typeErrorEvent(_ release: String, _ environment: String, _ user: String, _ tenant: String) -> String {
        exception(
            "TypeError", "foo.bar is undefined", function: "handle_request", module: "app.views", release: release,
            environment: environment, user: user, tags: #"{"tenant":"\#(tenant)"}"#)
    }

    /// Fills `database` (empty, migrated) and returns what it holds.
    static func fill(_ database: AppDatabase) async throws -> IssueFixture {
        let adminID =
            try database.createUser(email: "admin@example.com", passwordHash: "x", isAdmin: true, now: now).id ?? 0
        let developerID =
            try database.createUser(email: "dev@example.com", passwordHash: "x", isAdmin: false, now: now).id ?? 0
        try database.createProject(name: "Default", slug: "default", now: now)
        try database.createProject(name: "Backend", slug: "backend", now: now)
        try database.addMember(projectSlug: "default", email: "dev@example.com", role: .member, now: now)
        try await SQLiteProjects(database).setResolveAge(projectID: 2, hours: 24)
        let issues = SQLiteIssues(database)
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let stored = try await withRunning(writer) { () -> IssueFixture in
            func ingest(_ event: NormalizedEvent, project: Int64 = 1, attachments: [Attachment] = []) async throws
                -> Int64
            {
                _ = try await writer.ingest(IngestWork(projectID: project, event: event, attachments: attachments))
                return try await SQLiteEvents(database).event(projectID: project, eventID: event.eventID)?.issueID ?? 0
            }
            var fixture = IssueFixture()
            fixture.adminID = adminID
            fixture.developerID = developerID
            fixture.typeError = try await ingest(
                event(1, hoursAgo: 48, typeErrorEvent("1.0.0", "production", "u1", "acme")))
            _ = try await ingest(event(2, hoursAgo: 30, typeErrorEvent("1.0.0", "staging", "u2", "acme")))
            _ = try await ingest(event(3, hoursAgo: 5, typeErrorEvent("1.1.0", "production", "u1", "globex")))
            fixture.connection = try await ingest(
                event(
                    4, hoursAgo: 20,
                    message("Connection refused to db-1", level: "warning", release: "1.1.0", environment: "staging")))
            _ = try await ingest(
                event(
                    5, hoursAgo: 2,
                    message(
                        "Connection refused to db-1", level: "warning", release: "1.1.0", environment: "staging",
                        user: "u3")))
            fixture.keyError = try await ingest(
                event(
                    6, hoursAgo: 10,
                    exception(
                        "KeyError", "'order_17'", function: "load_order", module: "shop.orders", release: "1.1.0",
                        environment: "production")),
                attachments: [
                    Attachment(
                        eventID: eventID(6), filename: "log.txt", contentType: "text/plain",
                        attachmentType: "event.attachment", data: Array("line 1\nline 2\n".utf8)),
                    Attachment(
                        eventID: eventID(6), filename: "dump.bin", contentType: "application/octet-stream",
                        attachmentType: "event.minidump", data: [0, 1, 2, 255, 254]),
                ])
            fixture.regressed = try await ingest(
                event(
                    7, hoursAgo: 40,
                    exception(
                        "ValueError", "bad checksum", function: "verify", module: "shop.payments", release: "1.0.0",
                        environment: "production")))
            try await issues.updateIssues(
                ids: [fixture.regressed], change: IssueChange(status: .resolved, actorID: fixture.adminID),
                now: now.addingTimeInterval(-39 * 3600))
            _ = try await ingest(
                event(
                    8, hoursAgo: 1,
                    exception(
                        "ValueError", "bad checksum", function: "verify", module: "shop.payments", release: "1.1.0",
                        environment: "production", user: "u4")))
            fixture.ignored = try await ingest(
                event(
                    9, hoursAgo: 12,
                    message("Disk almost full on /var", level: "info", release: "1.1.0", environment: "production")))
            try await issues.updateIssues(
                ids: [fixture.ignored],
                change: IssueChange(status: .ignored, ignore: .untilCount(5), actorID: fixture.adminID),
                now: now.addingTimeInterval(-11 * 3600))
            _ = try await ingest(
                event(
                    10, hoursAgo: 2.2,
                    message("Disk almost full on /var", level: "info", release: "1.1.0", environment: "production")))
            fixture.backendIssue = try await ingest(
                event(
                    11, hoursAgo: 6,
                    exception(
                        "RuntimeError", "timeout after 30s", function: "fetch", module: "worker.jobs", release: "2.0.0",
                        environment: "production")),
                project: 2)
            try await issues.updateIssues(
                ids: [fixture.typeError],
                change: IssueChange(assigneeEmail: .some("dev@example.com"), actorID: fixture.adminID), now: now)
            return fixture
        }
        return stored
    }

    /// Runs `body` while the writer runs as a service; shuts it down gracefully afterwards.
    private static func withRunning<Result: Sendable>(
        _ writer: IngestWriter, _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        let group = ServiceGroup(
            services: [writer], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }
}
