import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

/// Alert rules and their delivery history in SQLite: the ``AlertRuleStore`` port.
public struct SQLiteAlertRules: AlertRuleStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    public func alertRules(projectID: Int64) async throws -> [AlertRule] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, spec, created_at FROM alert_rule WHERE project_id = ? ORDER BY id", arguments: [projectID]
            ).compactMap(AppDatabase.rule)
        }
    }

    public func alertRule(id: Int64, projectID: Int64) async throws -> AlertRule? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT id, spec, created_at FROM alert_rule WHERE id = ? AND project_id = ?", arguments: [id, projectID]
            ).flatMap(AppDatabase.rule)
        }
    }

    public func createAlertRule(_ rule: AlertRule, projectID: Int64, now: Date) async throws -> Int64 {
        try await writer.write { db in try AlertRows.insertRule(rule, projectID: projectID, now: now, in: db) }
    }

    public func updateAlertRule(_ rule: AlertRule, id: Int64, projectID: Int64, now: Date) async throws -> Bool {
        try await writer.write { db in try AlertRows.updateRule(rule, id: id, projectID: projectID, now: now, in: db) }
    }

    public func deleteAlertRule(id: Int64, projectID: Int64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM alert_rule WHERE id = ? AND project_id = ?", arguments: [id, projectID])
            return db.changesCount > 0
        }
    }

    public func deliveries(issueID: Int64?, ruleID: Int64?, limit: Int) async throws -> [DeliveryInfo] {
        try await writer.read { db in
            let filter = issueID != nil ? "issue_id = ?" : "rule_id = ?"
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, rule_id, rule_name, issue_id, trigger, channel, target, status, attempts, created_at, delivered_at,
                        next_attempt, last_error, content
                    FROM notification WHERE \(filter) ORDER BY id DESC LIMIT ?
                    """,
                arguments: [issueID ?? ruleID, limit])
            let attempts = try db.cachedStatement(
                sql: "SELECT at, outcome, detail FROM notification_attempt WHERE notification_id = ? ORDER BY id")
            return try rows.map { row in
                let id: Int64 = row[0]
                let history = try Row.fetchAll(attempts, arguments: [id]).map {
                    DeliveryAttempt(date: Date(timeIntervalSince1970: $0[0]), succeeded: ($0[1] as String) == "ok", detail: $0[2])
                }
                let content = (try? JSONParser.parse(row[13] as String)).flatMap(NotificationContent.init(json:))
                let status: String = row[7]
                return DeliveryInfo(
                    id: id, ruleID: row[1], ruleName: row[2], issueID: row[3], shortID: content?.shortID ?? "", trigger: row[4],
                    channel: row[5], target: row[6], status: status, attempts: row[8], created: Date(timeIntervalSince1970: row[9]),
                    delivered: (row[10] as Double?).map(Date.init(timeIntervalSince1970:)),
                    nextAttempt: status == "pending" ? (row[11] as Double?).map(Date.init(timeIntervalSince1970:)) : nil,
                    lastError: row[12], history: history)
            }
        }
    }
}
