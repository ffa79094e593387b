import Foundation
import Logging
import PostgresNIO
import SpyglassCore
import SpyglassProtocol

/// Alert rules and their delivery history in PostgreSQL: the ``AlertRuleStore`` port.
public struct PostgresAlertRules: AlertRuleStore {
    let database: PostgresAppDatabase

    /// The port over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    public func alertRules(projectID: Int64) async throws -> [AlertRule] {
        try await database.rows(
            "SELECT id, spec, created_at FROM alert_rule WHERE project_id = \(projectID) ORDER BY id"
        )
        .compactMap(Self.rule)
    }

    public func alertRule(id: Int64, projectID: Int64) async throws -> AlertRule? {
        try await database.row(
            "SELECT id, spec, created_at FROM alert_rule WHERE id = \(id) AND project_id = \(projectID)"
        )
        .flatMap(Self.rule)
    }

    public func createAlertRule(_ rule: AlertRule, projectID: Int64, now: Date) async throws -> Int64 {
        try await database.withConnection { connection in
            try await Self.insertRule(rule, projectID: projectID, now: now, on: connection, logger: database.logger)
        }
    }

    public func updateAlertRule(_ rule: AlertRule, id: Int64, projectID: Int64, now: Date) async throws -> Bool {
        let flags = rule.storedFlags
        let updated = try await database.rows(
            """
            UPDATE alert_rule SET name = \(rule.name), enabled = \(rule.enabled.flag), spec = \(Self.spec(rule)),
                frequency_minutes = \(rule.frequencyMinutes), on_new = \(flags.onNew.flag),
                on_regression = \(flags.onRegression.flag), on_reappeared = \(flags.onReappeared.flag),
                counts_events = \(flags.countsEvents.flag), counts_users = \(flags.countsUsers.flag),
                updated_at = \(now.timeIntervalSince1970)
            WHERE id = \(id) AND project_id = \(projectID)
            RETURNING id
            """)
        return !updated.isEmpty
    }

    public func deleteAlertRule(id: Int64, projectID: Int64) async throws -> Bool {
        try await !database.rows("DELETE FROM alert_rule WHERE id = \(id) AND project_id = \(projectID) RETURNING id")
            .isEmpty
    }

    public func deliveries(issueID: Int64?, ruleID: Int64?, limit: Int) async throws -> [DeliveryInfo] {
        try await database.withConnection { connection in
            let columns = """
                SELECT id, rule_id, rule_name, issue_id, trigger, channel, target, status, attempts, created_at, delivered_at,
                    next_attempt, last_error, content
                FROM notification
                """
            let query: PostgresQuery =
                if let issueID {
                    "\(unescaped: columns) WHERE issue_id = \(issueID) ORDER BY id DESC LIMIT \(limit)"
                } else {
                    "\(unescaped: columns) WHERE rule_id = \(ruleID) ORDER BY id DESC LIMIT \(limit)"
                }
            let rows = try await connection.rows(query, logger: database.logger)
            var deliveries: [DeliveryInfo] = []
            for row in rows {
                let id: Int64 = try row.decode("id")
                let history = try await connection.rows(
                    "SELECT at, outcome, detail FROM notification_attempt WHERE notification_id = \(id) ORDER BY id",
                    logger: database.logger
                ).map { attempt in
                    DeliveryAttempt(
                        date: try attempt.date("at"), succeeded: try attempt.decode("outcome", as: String.self) == "ok",
                        detail: try attempt.decode("detail"))
                }
                let content = (try? JSONParser.parse(try row.decode("content", as: String.self))).flatMap(
                    NotificationContent.init(json:))
                let status: String = try row.decode("status")
                deliveries.append(
                    DeliveryInfo(
                        id: id, ruleID: try row.decode("rule_id"), ruleName: try row.decode("rule_name"),
                        issueID: try row.decode("issue_id"), shortID: content?.shortID ?? "",
                        trigger: try row.decode("trigger"),
                        channel: try row.decode("channel"), target: try row.decode("target"), status: status,
                        attempts: Int(try row.decode("attempts", as: Int64.self)), created: try row.date("created_at"),
                        delivered: try row.optionalDate("delivered_at"),
                        nextAttempt: status == "pending" ? try row.optionalDate("next_attempt") : nil,
                        lastError: try row.decode("last_error"), history: history))
            }
            return deliveries
        }
    }

    // MARK: - Rows

    /// Stores a rule for a project, as SQLite's adapter does (the rule's JSON and the flags of its conditions);
    /// returns its id.
    @discardableResult
    static func insertRule(
        _ rule: AlertRule, projectID: Int64, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        let flags = rule.storedFlags
        let row = try await connection.row(
            """
            INSERT INTO alert_rule (project_id, name, enabled, spec, frequency_minutes, on_new, on_regression, on_reappeared,
                counts_events, counts_users, created_at, updated_at)
            VALUES (\(projectID), \(rule.name), \(rule.enabled.flag), \(spec(rule)), \(rule.frequencyMinutes),
                \(flags.onNew.flag), \(flags.onRegression.flag), \(flags.onReappeared.flag), \(flags.countsEvents.flag),
                \(flags.countsUsers.flag), \(now.timeIntervalSince1970), \(now.timeIntervalSince1970))
            RETURNING id
            """, logger: logger)
        guard let row else { throw DomainError(.unavailable, "the alert rule was not stored") }
        return try row.decode("id")
    }

    /// The rule as stored: its JSON (``AlertRule/json``).
    static func spec(_ rule: AlertRule) -> String { JSONWriter.string(.object(rule.json)) }

    /// A rule from a row with `id`, `spec` and `created_at`; nil when its JSON no longer reads as a rule.
    static func rule(_ row: PostgresRandomAccessRow) -> AlertRule? {
        guard let id = try? row.decode("id", as: Int64.self), let spec = try? row.decode("spec", as: String.self),
            var rule = try? AlertRule(json: JSONParser.parse(spec), id: id, secret: { "" })
        else { return nil }
        rule.created = try? row.date("created_at")
        return rule
    }
}
