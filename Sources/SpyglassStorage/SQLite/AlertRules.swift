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
                let id: Int64 = row["id"]
                let history = try Row.fetchAll(attempts, arguments: [id]).map {
                    DeliveryAttempt(
                        date: Date(timeIntervalSince1970: $0["at"]), succeeded: ($0["outcome"] as String) == "ok", detail: $0["detail"])
                }
                let content = (try? JSONParser.parse(row["content"] as String)).flatMap(NotificationContent.init(json:))
                let status: String = row["status"]
                return DeliveryInfo(
                    id: id, ruleID: row["rule_id"], ruleName: row["rule_name"], issueID: row["issue_id"],
                    shortID: content?.shortID ?? "", trigger: row["trigger"], channel: row["channel"], target: row["target"],
                    status: status, attempts: row["attempts"], created: Date(timeIntervalSince1970: row["created_at"]),
                    delivered: (row["delivered_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    nextAttempt: status == "pending" ? (row["next_attempt"] as Double?).map(Date.init(timeIntervalSince1970:)) : nil,
                    lastError: row["last_error"], history: history)
            }
        }
    }
}
