import Foundation

/// A project's alert rules and the history of what they sent (the outbox itself: ``NotificationOutbox``).
public protocol AlertRuleStore: Sendable {
    /// The project's alert rules, oldest first.
    func alertRules(projectID: Int64) async throws -> [AlertRule]
    func alertRule(id: Int64, projectID: Int64) async throws -> AlertRule?
    /// Stores a new rule; returns its id.
    func createAlertRule(_ rule: AlertRule, projectID: Int64, now: Date) async throws -> Int64
    /// Replaces a rule; false when the project has no such rule.
    func updateAlertRule(_ rule: AlertRule, id: Int64, projectID: Int64, now: Date) async throws -> Bool
    func deleteAlertRule(id: Int64, projectID: Int64) async throws -> Bool
    /// Notifications about an issue, or of a rule, newest first, with their attempts.
    func deliveries(issueID: Int64?, ruleID: Int64?, limit: Int) async throws -> [DeliveryInfo]
}
