import Foundation
import GRDB
import Logging
import SpyglassCore
import SpyglassProtocol
import SpyglassServer
import SpyglassStorage
import SpyglassStorageKit

/// A database with a user of each role and one of everything the routes name, in project `zebra`: an issue with
/// an event and an attachment, a release, an alert rule with a webhook secret. Each request of the matrix gets
/// its own copy (`copy()`), so what one allowed request deletes is there for the next.
struct AuthorizationSeed {
    /// A signed-in user: API token and web session.
    struct Credentials {
        var userID: Int64
        var token: String
        var tokenID: Int64
        var cookie: String
        var csrf: String
    }

    static let issueMarker = "ZebraMarkerError"
    static let secret = "webhook-secret-never-shown-42"
    static let version = "2.0.0"

    let template: AppDatabase
    var users: [Role: Credentials] = [:]
    var zebra: Int64 = 0
    var issueID: Int64 = 0
    var eventID = ""
    var attachmentID: Int64 = 0
    var ruleID: Int64 = 0
    var keyID: Int64 = 0

    init(configuration: ServerConfiguration) async throws {
        template = try AppDatabase.inMemory()
        let now = Date.now
        let emails: [Role: String] = [
            .serverAdmin: "root@example.com", .projectAdmin: "lead@example.com", .member: "dev@example.com",
            .otherProjectMember: "outsider@example.com",
        ]
        for (role, email) in emails { try template.createUser(email: email, passwordHash: "x", isAdmin: role == .serverAdmin, now: now) }
        zebra = try template.createProject(name: "Zebra", slug: "zebra", now: now).project.id ?? 0
        try template.createProject(name: "Other", slug: "other", now: now)
        // The server admin is a member of nothing (as the first `serve`'s admin of projects made before it).
        try await template.writer.write { try $0.execute(sql: "DELETE FROM project_member") }
        try template.addMember(projectSlug: "zebra", email: "lead@example.com", role: .admin, now: now)
        try template.addMember(projectSlug: "zebra", email: "dev@example.com", role: .member, now: now)
        try template.addMember(projectSlug: "other", email: "outsider@example.com", role: .member, now: now)
        for (role, email) in emails {
            let (token, hash) = APIToken.generate()
            let record = try template.createAPIToken(userEmail: email, name: "matrix", tokenHash: hash, now: now)
            let cookie = APIToken.generate().token, csrf = APIToken.generate().token
            try await template.storage.accounts.createSession(
                tokenHash: APIToken.hash(cookie), userID: record.userId, csrfToken: csrf, now: now, expires: now + 3600)
            users[role] = Credentials(userID: record.userId, token: token, tokenID: record.id ?? 0, cookie: cookie, csrf: csrf)
        }
        try await storeEvent(configuration: configuration, now: now)
        _ = try await template.storage.releases.createRelease(version: Self.version, projectIDs: [zebra], change: ReleaseChange(), now: now)
        let rule = try AlertRule(
            json: try JSONParser.parse(Array(#"{"name":"Hook","conditions":[{"id":"first_seen"}],"actions":[{"id":"webhook","url":"https://hooks.example.com/x"}]}"#.utf8)),
            secret: { Self.secret })
        ruleID = try await template.storage.alertRules.createAlertRule(rule, projectID: zebra, now: now)
        keyID = try await template.storage.projects.keys(projectID: zebra)[0].id
    }

    private mutating func storeEvent(configuration: ServerConfiguration, now: Date) async throws {
        eventID = String(repeating: "ab", count: 16)
        let json = #"{"event_id":"\#(eventID)","level":"error","release":"\#(Self.version)","exception":{"values":[{"type":"\#(Self.issueMarker)","value":"boom"}]}}"#
        let event = try EventNormalizer().normalize(JSONParser.parse(Array(json.utf8)), context: .init(received: now))
        let attachment = Attachment(eventID: eventID, filename: "log.txt", contentType: "text/plain", attachmentType: "event.attachment", data: Array("log".utf8))
        let writer = AppDependencies(database: template, configuration: configuration, logger: Logger(label: "seed")).writer
        let runner = Task { try await writer.run() }
        _ = try await writer.ingest(IngestWork(projectID: zebra, event: event, attachments: [attachment]))
        runner.cancel()
        (issueID, attachmentID) = try await template.writer.read { db in
            (try Int64.fetchOne(db, sql: "SELECT id FROM issue") ?? 0, try Int64.fetchOne(db, sql: "SELECT id FROM attachment") ?? 0)
        }
    }

    /// A fresh copy of the seeded database.
    func copy() throws -> AppDatabase {
        let queue = try DatabaseQueue(configuration: AppDatabase.makeConfiguration())
        try template.writer.backup(to: queue)
        return try AppDatabase(unmigrated: queue)
    }

    /// `path` (as the router prints it) with its parameters filled in for `role`.
    func fill(_ path: String, role: Role) -> String {
        let own = users[role]
        let values: [String: String] = [
            "org": "spyglass", "project": "zebra", "project_id": String(zebra), "issue_id": String(issueID),
            "event_id": eventID, "attachment_id": String(attachmentID), "rule_id": String(ruleID), "version": Self.version,
            "key_id": String(keyID), "user_id": String(users[.member]?.userID ?? 0), "token_id": String(own?.tokenID ?? 0),
            "file": "spyglass.css",
        ]
        var filled = path
        for (name, value) in values { filled = filled.replacingOccurrences(of: "{\(name)}", with: value) }
        return filled
    }
}
