import Foundation
import SpyglassCore

/// What ingest stored, table by table, comparable across backends: surrogate ids are replaced by their rank in
/// their table (PostgreSQL's identities skip values that SQLite's rowids reuse: an `ON CONFLICT DO NOTHING` or a
/// rolled-back insert consumes one), and payloads are compared decoded.
struct IngestSnapshot: Sendable, Equatable {
    var tables: [String: [[String: String]]]
    var payloads: [String: String]

    /// A table's dump: portable SQL, and the columns that hold ids of a table (by that table's name).
    private struct Dump {
        var table: String
        var columns: String
        var references: [String: String]
    }

    private static let dumps: [Dump] = [
        Dump(
            table: "issue",
            columns: """
                id, project_id, short_id, title, culprit, type, metadata, level, status, substatus, first_seen, last_seen,
                times_seen, user_count, first_release, last_release, status_changed_at, first_event_id, last_event_id,
                resolution, resolution_release, ignore_state, substatus_since
                """,
            references: ["id": "issue", "first_event_id": "event", "last_event_id": "event"]),
        Dump(
            table: "event",
            columns: """
                id, project_id, event_id, timestamp, received, level, platform, release, environment, payload_raw, sent_at,
                client_ip, issue_id, primary_hash, pinned
                """,
            references: ["id": "event", "issue_id": "issue"]),
        Dump(
            table: "grouping_hash", columns: "project_id, hash, config, issue_id, dictionary_id",
            references: ["issue_id": "issue", "dictionary_id": "payload_dictionary"]),
        Dump(table: "payload_dictionary", columns: "id, project_id", references: ["id": "payload_dictionary"]),
        Dump(table: "issue_user", columns: "issue_id, user_key, last_seen", references: ["issue_id": "issue"]),
        Dump(
            table: "issue_tag", columns: "issue_id, key, value, times_seen, first_seen, last_seen",
            references: ["issue_id": "issue"]),
        Dump(table: "issue_hour", columns: "issue_id, hour, count", references: ["issue_id": "issue"]),
        Dump(table: "issue_minute", columns: "issue_id, minute, count", references: ["issue_id": "issue"]),
        Dump(
            table: "issue_activity", columns: "id, issue_id, type, user_id, data, created_at",
            references: ["id": "issue_activity", "issue_id": "issue"]),
        // created_at is left out: a release that a session creates is stamped with the clock.
        Dump(
            table: "release", columns: "id, project_id, version, date_released, first_event, last_event, new_issues",
            references: ["id": "release"]),
        Dump(
            table: "release_environment", columns: "release_id, environment, first_seen, last_seen, new_issues",
            references: ["release_id": "release"]),
        Dump(
            table: "release_sessions", columns: "project_id, release, environment, started, exited, errored, crashed, abnormal",
            references: [:]),
        Dump(table: "discarded_events", columns: "project_id, reason, category, quantity", references: [:]),
        // received is the clock's.
        Dump(
            table: "attachment", columns: "id, project_id, event_id, filename, content_type, attachment_type, size, data",
            references: ["id": "attachment"]),
        Dump(
            table: "user_report", columns: "id, project_id, event_id, name, email, comments, received",
            references: ["id": "user_report"]),
        Dump(
            table: "alert_rule_issue", columns: "rule_id, issue_id, trigger, last_fired",
            references: ["rule_id": "alert_rule", "issue_id": "issue"]),
        Dump(
            table: "notification",
            columns: """
                id, project_id, rule_id, rule_name, issue_id, trigger, channel, target, action, content, status, attempts,
                created_at, next_attempt
                """,
            references: ["id": "notification", "rule_id": "alert_rule", "issue_id": "issue"]),
        Dump(table: "project", columns: "id, next_short_id", references: [:]),
    ]

    /// The store's rows now.
    init(_ store: TestStore) async throws {
        var ranks: [String: [String: String]] = [:]
        for table in Set(Self.dumps.flatMap(\.references.values)).union(["alert_rule"]) {
            let ids = try await store.rows("SELECT id FROM \(table)").compactMap { $0["id"].flatMap { Int64($0) } }.sorted()
            ranks[table] = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ("\($1)", "#\($0 + 1)") })
        }
        var tables: [String: [[String: String]]] = [:]
        for dump in Self.dumps {
            let rows = try await store.rows("SELECT \(dump.columns) FROM \(dump.table)").map { row in
                var row = row
                for (column, table) in dump.references {
                    if let id = row[column], id != "NULL" { row[column] = ranks[table]?[id] ?? "unknown \(table) \(id)" }
                }
                return row
            }
            tables[dump.table] = rows.sorted { $0.sorted { $0.key < $1.key }.description < $1.sorted { $0.key < $1.key }.description }
        }
        let searchID = store.backend == .sqlite ? "rowid" : "issue_id"
        tables["issue_search"] = try await store.rows("SELECT \(searchID) AS issue_id, title, culprit, message FROM issue_search")
            .map { row in
                var row = row
                row["issue_id"] = row["issue_id"].flatMap { ranks["issue"]?[$0] }
                return row
            }
        self.tables = tables
        self.payloads = try await store.payloads()
    }

    /// The tables that differ from `other`'s, with both sides' rows: empty when the snapshots match.
    func differences(from other: IngestSnapshot) -> [String] {
        var differences = Set(tables.keys).union(other.tables.keys).sorted().compactMap { table -> String? in
            tables[table] == other.tables[table] ? nil : "\(table): \(tables[table] ?? []) vs \(other.tables[table] ?? [])"
        }
        if payloads != other.payloads { differences.append("payloads: \(payloads) vs \(other.payloads)") }
        return differences
    }
}
