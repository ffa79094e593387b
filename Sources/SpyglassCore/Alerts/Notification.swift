import Foundation
import SpyglassProtocol

/// The issue and event a notification is about, as they were when the rule fired.
public struct NotificationContent: Sendable, Hashable {
    public var projectID: Int64
    public var projectSlug: String
    public var projectName: String
    public var issueID: Int64
    /// `PROJECT-12`.
    public var shortID: String
    public var title: String
    public var culprit: String
    public var level: String
    public var status: String
    public var count: Int
    public var userCount: Int
    public var firstSeen: Date
    public var lastSeen: Date
    public var eventID: String
    public var release: String?
    public var environment: String?

    public init(
        projectID: Int64, projectSlug: String, projectName: String, issueID: Int64, shortID: String, title: String,
        culprit: String, level: String, status: String, count: Int, userCount: Int, firstSeen: Date, lastSeen: Date,
        eventID: String, release: String?, environment: String?
    ) {
        self.projectID = projectID
        self.projectSlug = projectSlug
        self.projectName = projectName
        self.issueID = issueID
        self.shortID = shortID
        self.title = title
        self.culprit = culprit
        self.level = level
        self.status = status
        self.count = count
        self.userCount = userCount
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.eventID = eventID
        self.release = release
        self.environment = environment
    }

    public var json: JSONValue {
        [
            "projectId": .number(JSONNumber(projectID)), "projectSlug": .string(projectSlug), "projectName": .string(projectName),
            "issueId": .number(JSONNumber(issueID)), "shortId": .string(shortID), "title": .string(title),
            "culprit": .string(culprit), "level": .string(level), "status": .string(status),
            "count": .number(JSONNumber(Int64(count))), "userCount": .number(JSONNumber(Int64(userCount))),
            "firstSeen": .number(JSONNumber(firstSeen.timeIntervalSince1970)),
            "lastSeen": .number(JSONNumber(lastSeen.timeIntervalSince1970)), "eventId": .string(eventID),
            "release": release.map(JSONValue.string) ?? .null, "environment": environment.map(JSONValue.string) ?? .null,
        ]
    }

    public init?(json: JSONValue) {
        guard let projectID = json["projectId"]?.int64Value, let issueID = json["issueId"]?.int64Value,
            let shortID = json["shortId"]?.stringValue, let title = json["title"]?.stringValue
        else { return nil }
        self.init(
            projectID: projectID, projectSlug: json["projectSlug"]?.stringValue ?? "", projectName: json["projectName"]?.stringValue ?? "",
            issueID: issueID, shortID: shortID, title: title, culprit: json["culprit"]?.stringValue ?? "",
            level: json["level"]?.stringValue ?? "error", status: json["status"]?.stringValue ?? "unresolved",
            count: Int(json["count"]?.int64Value ?? 0), userCount: Int(json["userCount"]?.int64Value ?? 0),
            firstSeen: Date(timeIntervalSince1970: json["firstSeen"]?.doubleValue ?? 0),
            lastSeen: Date(timeIntervalSince1970: json["lastSeen"]?.doubleValue ?? 0), eventID: json["eventId"]?.stringValue ?? "",
            release: json["release"]?.stringValue, environment: json["environment"]?.stringValue)
    }
}

/// An outbox row waiting for delivery.
public struct PendingNotification: Sendable, Hashable {
    public var id: Int64
    public var ruleID: Int64?
    public var ruleName: String
    public var trigger: AlertTrigger
    /// What to do; e-mail actions carry the recipients resolved when the rule fired (``AlertAction/Recipients/addresses(_:)``).
    public var action: AlertAction
    public var content: NotificationContent
    /// Attempts made before this one.
    public var attempts: Int

    public init(
        id: Int64, ruleID: Int64?, ruleName: String, trigger: AlertTrigger, action: AlertAction, content: NotificationContent,
        attempts: Int
    ) {
        self.id = id
        self.ruleID = ruleID
        self.ruleName = ruleName
        self.trigger = trigger
        self.action = action
        self.content = content
        self.attempts = attempts
    }
}

/// One attempt's result.
public struct DeliveryAttempt: Sendable, Hashable {
    public var date: Date
    public var succeeded: Bool
    public var detail: String

    public init(date: Date, succeeded: Bool, detail: String) {
        self.date = date
        self.succeeded = succeeded
        self.detail = detail
    }
}

/// An attempt to record for a notification. `retryAt` nil after a failure means: give up (status `failed`).
public struct RecordedAttempt: Sendable, Hashable {
    public var notificationID: Int64
    public var attempt: DeliveryAttempt
    public var retryAt: Date?

    public init(notificationID: Int64, attempt: DeliveryAttempt, retryAt: Date?) {
        self.notificationID = notificationID
        self.attempt = attempt
        self.retryAt = retryAt
    }
}

/// A notification with its attempts, for the delivery history.
public struct DeliveryInfo: Sendable, Hashable {
    public var id: Int64
    public var ruleID: Int64?
    public var ruleName: String
    public var issueID: Int64?
    public var shortID: String
    public var trigger: String
    public var channel: String
    public var target: String
    public var status: String
    public var attempts: Int
    public var created: Date
    public var delivered: Date?
    public var nextAttempt: Date?
    public var lastError: String?
    public var history: [DeliveryAttempt]

    public init(
        id: Int64, ruleID: Int64?, ruleName: String, issueID: Int64?, shortID: String, trigger: String, channel: String,
        target: String, status: String, attempts: Int, created: Date, delivered: Date?, nextAttempt: Date?, lastError: String?,
        history: [DeliveryAttempt]
    ) {
        self.id = id
        self.ruleID = ruleID
        self.ruleName = ruleName
        self.issueID = issueID
        self.shortID = shortID
        self.trigger = trigger
        self.channel = channel
        self.target = target
        self.status = status
        self.attempts = attempts
        self.created = created
        self.delivered = delivered
        self.nextAttempt = nextAttempt
        self.lastError = lastError
        self.history = history
    }
}

/// The outbox as the delivery worker sees it (implemented by the storage adapter).
public protocol NotificationOutbox: Sendable {
    /// Claims up to `limit` pending notifications whose next attempt has come, oldest first, for `lease` seconds:
    /// their next attempt moves to `now + lease`, so no other claim (by this process or another node on the same
    /// database) returns them until then. Recording an attempt ends the claim; a claimer that dies before it does
    /// leaves the rows to whoever claims after the lease.
    func claimDueNotifications(now: Date, limit: Int, lease: Double) async throws -> [PendingNotification]
    /// Records attempts, all in one transaction.
    func recordAttempts(_ attempts: [RecordedAttempt]) async throws
    /// Notifications still pending.
    func pendingNotificationCount() async throws -> Int
    /// When the earliest pending notification is due, if any.
    func nextNotificationDue() async throws -> Date?
}

extension NotificationOutbox {
    /// Records one attempt. `retryAt` nil after a failure means: give up (status `failed`).
    public func recordAttempt(_ id: Int64, _ attempt: DeliveryAttempt, retryAt: Date?) async throws {
        try await recordAttempts([RecordedAttempt(notificationID: id, attempt: attempt, retryAt: retryAt)])
    }
}

/// Exponential backoff between attempts.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all (the first one included).
    public var maxAttempts: Int
    /// The delay after the first failure; each further one doubles it.
    public var baseDelay: Double

    /// 8 attempts, 30 s doubling: the last one about an hour after the first.
    public init(maxAttempts: Int = 8, baseDelay: Double = 30) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
    }

    /// When to try again after `attempts` failed attempts, or nil to give up.
    public func retryDate(afterAttempts attempts: Int, now: Date) -> Date? {
        guard attempts < maxAttempts else { return nil }
        let exponent = min(max(attempts - 1, 0), 30)
        return now.addingTimeInterval(baseDelay * Double(1 << exponent))
    }
}
