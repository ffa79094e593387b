import Foundation
import GRDB
import Logging
import MetricsTestKit
import PostgresNIO
import ServiceLifecycle
import SpyglassCore
import SpyglassPostgres
import SpyglassProtocol
import SpyglassStorage
import SpyglassStorageKit
import Testing

/// Ingest on either backend, and the stored rows as comparable values: the differential contract of the writer.
extension TestStore {
    /// Runs `body` with an ingest writer over the store's database running as a service; shuts it down gracefully
    /// afterwards (the queue drained).
    func withRunningWriter(_ body: @Sendable (IngestWriter) async throws -> Void) async throws {
        let writer: IngestWriter
        switch database {
        case .sqlite(let database): writer = IngestWriter(database: database, metrics: TestMetrics())
        case .postgres(let database): writer = IngestWriter(database: database, metrics: TestMetrics())
        }
        let logger = Logger(label: "spyglass.test.writer", factory: { _ in SwiftLogNoOpLogHandler() })
        let group = ServiceGroup(services: [writer], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(writer)
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Commits `works` in one transaction of the backend's committer, prepared as the writer prepares them (payloads
    /// compressed against `dictionaries`): a batch whose make-up the test decides. The commit blocks its thread, so
    /// it runs on a thread of its own, as in the writer (blocking a cooperative thread can starve the pool).
    /// The works' lines are committed first by the backend's log committer, as the writer hands them to its log
    /// writer.
    func commitBatch(_ works: [IngestWork], dictionaries: PayloadDictionaryCache) async throws -> CommittedBatch {
        var works = works
        let lines = works.filter { !$0.logs.isEmpty }.map {
            PreparedLogLines(projectID: $0.projectID, received: $0.received, lines: $0.logs)
        }
        for index in works.indices { works[index].logs = [] }
        if !lines.isEmpty {
            let logCommitter = self.logCommitter
            let dropped = try await onThread { try logCommitter.commit(lines) }
            #expect(dropped.allSatisfy { $0 == nil })
        }
        let jobs = works.map { PreparedIngest($0, compactEvents: true, dictionaries: dictionaries) }
        let committer = self.committer
        return try await onThread { try committer.commit(jobs, dictionaries: dictionaries) }
    }

    /// Commits `jobs` through the backend's log committer, on a thread of its own as the log writer does.
    func commitLogLines(_ jobs: [PreparedLogLines]) async throws -> [(any Error)?] {
        let logCommitter = self.logCommitter
        return try await onThread { try logCommitter.commit(jobs) }
    }

    private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    // MARK: - Fixture

    /// A project with its key and the default alert rule (the rule every new project gets), and an active member
    /// whose address that rule mails. Returns the project's id.
    ///
    /// SQLite goes through `AppDatabase.createProject`; PostgreSQL has no projects port yet (`PostgresProjects` is
    /// being written), so its rows are inserted here with the values SQLite stores. Switch to the port when it lands.
    func createProject(slug: String, memberEmail: String = "dev@example.com") async throws -> Int64 {
        let projectID: Int64
        switch database {
        case .sqlite(let database):
            guard let id = try database.createProject(name: slug, slug: slug, now: now).project.id else {
                throw TestDatabaseError(message: "project \(slug) has no id")
            }
            projectID = id
        case .postgres(let database):
            let created = "2026-09-21 00:00:00.000"
            let key = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(32))
            let rule = AlertRule.projectDefault
            let seconds = now.timeIntervalSince1970
            projectID = try await database.withTransaction { connection in
                let rows = try await connection.query(
                    "INSERT INTO project (slug, name, created_at) VALUES (\(slug), \(slug), \(created)) RETURNING id",
                    logger: TestPostgres.logger
                ).collect()
                let id = try rows[0].decode(Int64.self)
                try await connection.query(
                    """
                    INSERT INTO project_key (project_id, public_key, label, is_active, created_at)
                    VALUES (\(id), \(key), 'Default', 1, \(created))
                    """, logger: TestPostgres.logger)
                // AlertRows.insertRule: the spec is the rule's JSON, the flags what its conditions need.
                try await connection.query(
                    """
                    INSERT INTO alert_rule (project_id, name, enabled, spec, frequency_minutes, on_new, on_regression,
                        on_reappeared, counts_events, counts_users, created_at, updated_at)
                    VALUES (\(id), \(rule.name), 1, \(JSONWriter.string(.object(rule.json))), \(rule.frequencyMinutes), 1, 1,
                        0, 0, 0, \(seconds), \(seconds))
                    """, logger: TestPostgres.logger)
                return id
            }
        }
        try await addMember(memberEmail, projectID: projectID)
        return projectID
    }

    /// An active user who is a member of the project.
    func addMember(_ email: String, projectID: Int64) async throws {
        let created = "2026-09-21 00:00:00.000"
        switch database {
        case .sqlite(let database):
            try await database.writer.write { db in
                try db.execute(
                    sql: "INSERT INTO user (email, password_hash, created_at) VALUES (?, 'x', ?)", arguments: [email, created])
                try db.execute(
                    sql: "INSERT INTO project_member (project_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)",
                    arguments: [projectID, db.lastInsertedRowID, created])
            }
        case .postgres(let database):
            try await database.withTransaction { connection in
                let rows = try await connection.query(
                    "INSERT INTO \"user\" (email, password_hash, created_at) VALUES (\(email), 'x', \(created)) RETURNING id",
                    logger: TestPostgres.logger
                ).collect()
                let userID = try rows[0].decode(Int64.self)
                try await connection.query(
                    """
                    INSERT INTO project_member (project_id, user_id, role, created_at)
                    VALUES (\(projectID), \(userID), 'member', \(created))
                    """, logger: TestPostgres.logger)
            }
        }
    }

    /// Runs one statement without parameters on the database of the log lines (SQLite's file of their own).
    func executeOnLines(_ sql: String) async throws {
        guard case .sqlite(let database) = database else { return try await execute(sql) }
        try await database.logs.writer.write { try $0.execute(sql: sql) }
    }

    /// Runs one statement without parameters (the same text on both backends).
    func execute(_ sql: String) async throws {
        switch database {
        case .sqlite(let database):
            try await database.writer.write { try $0.execute(sql: sql) }
        case .postgres(let database):
            try await database.withConnection { try await $0.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger) }
        }
    }

    // MARK: - Rows as values

    /// The rows of a query as column name → value text (integers and reals as Swift prints them, NULL as "NULL",
    /// blobs in hex), sorted: what must match across backends. `sql` is written to run on both.
    func rows(_ sql: String) async throws -> [[String: String]] {
        let rows: [[String: String]]
        switch database {
        case .sqlite(let database):
            rows = try await database.writer.read { db in
                try Row.fetchAll(db, sql: sql).map { row in
                    var values: [String: String] = [:]
                    for (column, value) in row { values[column] = Self.text(value) }
                    return values
                }
            }
        case .postgres(let database):
            rows = try await database.withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger).collect().map { row in
                    var values: [String: String] = [:]
                    for cell in row { values[cell.columnName] = try Self.text(cell) }
                    return values
                }
            }
        }
        return rows.sorted { $0.sorted { $0.key < $1.key }.description < $1.sorted { $0.key < $1.key }.description }
    }

    /// One value of a query's first row.
    func value(_ sql: String) async throws -> String? {
        try await rows(sql).first?.values.first
    }

    /// Each stored event's payload, decoded (dictionaries and deltas resolved, raw payloads normalized again), as
    /// JSON text by event id: compressed bytes differ with dictionary ids, the payloads must not.
    func payloads() async throws -> [String: String] {
        let events: [(eventID: String, blob: [UInt8], raw: Bool, received: Double, sentAt: Double?, clientIP: String?)]
        let dictionaries: [Int64: [UInt8]]
        switch database {
        case .sqlite(let database):
            (events, dictionaries) = try await database.writer.read { db in
                let events = try Row.fetchAll(db, sql: "SELECT event_id, payload, payload_raw, received, sent_at, client_ip FROM event")
                    .map { row in
                        (
                            eventID: row[0] as String, blob: [UInt8](row[1] as Data), raw: row[2] as Bool, received: row[3] as Double,
                            sentAt: row[4] as Double?, clientIP: row[5] as String?
                        )
                    }
                let dictionaries = try Row.fetchAll(db, sql: "SELECT id, data FROM payload_dictionary")
                    .map { ($0[0] as Int64, [UInt8]($0[1] as Data)) }
                return (events, Dictionary(uniqueKeysWithValues: dictionaries))
            }
        case .postgres(let database):
            (events, dictionaries) = try await database.withConnection { connection in
                let events = try await connection.query(
                    "SELECT event_id, payload, payload_raw, received, sent_at, client_ip FROM event", logger: TestPostgres.logger
                ).collect().map { row in
                    let (eventID, blob, raw, received, sentAt, clientIP) = try row.decode(
                        (String, ByteBuffer, Int64, Double, Double?, String?).self)
                    return (
                        eventID: eventID, blob: Array(blob.readableBytesView), raw: raw != 0, received: received, sentAt: sentAt,
                        clientIP: clientIP
                    )
                }
                let dictionaries = try await connection.query("SELECT id, data FROM payload_dictionary", logger: TestPostgres.logger)
                    .collect().map { row in
                        let (id, data) = try row.decode((Int64, ByteBuffer).self)
                        return (id, Array(data.readableBytesView))
                    }
                return (events, Dictionary(uniqueKeysWithValues: dictionaries))
            }
        }
        let dictionary: (Int64) throws -> [UInt8] = { id in
            guard let data = dictionaries[id] else { throw TestDatabaseError(message: "dictionary \(id) is missing") }
            return Array(try EventPayloadCodec.payloadBytes(data) { _ in throw TestDatabaseError(message: "nested dictionary") })
        }
        var payloads: [String: String] = [:]
        for event in events {
            let json = try EventPayloadCodec.decode(
                event.blob, raw: event.raw, eventID: event.eventID, received: Date(timeIntervalSince1970: event.received),
                sentAt: event.sentAt.map(Date.init(timeIntervalSince1970:)), clientIP: event.clientIP, dictionary: dictionary)
            payloads[event.eventID] = JSONWriter.string(json)
        }
        return payloads
    }

    private static func text(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "NULL"
        case .int64(let int): "\(int)"
        case .double(let double): "\(double)"
        case .string(let string): string
        case .blob(let data): data.map { String(format: "%02x", $0) }.joined()
        }
    }

    private static func text(_ cell: PostgresCell) throws -> String {
        guard cell.bytes != nil else { return "NULL" }
        switch cell.dataType {
        case .int8, .int4, .int2: return "\(try cell.decode(Int64.self))"
        case .float8, .float4: return "\(try cell.decode(Double.self))"
        case .bytea: return try cell.decode(ByteBuffer.self).readableBytesView.map { String(format: "%02x", $0) }.joined()
        default: return try cell.decode(String.self)
        }
    }
}
