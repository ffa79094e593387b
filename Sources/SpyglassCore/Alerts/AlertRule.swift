import Foundation
import SpyglassProtocol

/// An issue alert rule of a project: when (conditions), if (filters), then (actions), at most once per
/// issue and trigger within ``frequencyMinutes`` (so a regression right after the new-issue alert is told). Shaped like Sentry's issue alert rules (`sentry.rules.*` ids).
public struct AlertRule: Sendable, Hashable {
    public var id: Int64?
    public var name: String
    public var enabled: Bool
    /// `any`: one condition suffices; `all`: every condition must hold.
    public var actionMatch: Match
    /// `all`, `any` or `none` of the filters must pass.
    public var filterMatch: Match
    /// Throttle: the rule fires at most once per issue and trigger within this many minutes (Sentry's default 30).
    public var frequencyMinutes: Int
    /// Only events of this environment (nil: any).
    public var environment: String?
    public var conditions: [AlertCondition]
    public var filters: [AlertFilter]
    public var actions: [AlertAction]
    /// When the rule was stored.
    public var created: Date?

    public enum Match: String, Sendable, Hashable, CaseIterable { case all, any, none }

    public static let defaultName = "Send a notification for new and regressed issues"
    public static let defaultFrequency = 30

    public init(
        id: Int64? = nil, name: String, enabled: Bool = true, actionMatch: Match = .any, filterMatch: Match = .all,
        frequencyMinutes: Int = AlertRule.defaultFrequency, environment: String? = nil, conditions: [AlertCondition],
        filters: [AlertFilter] = [], actions: [AlertAction]
    ) {
        self.id = id
        self.name = name
        self.enabled = enabled
        self.actionMatch = actionMatch
        self.filterMatch = filterMatch
        self.frequencyMinutes = frequencyMinutes
        self.environment = environment
        self.conditions = conditions
        self.filters = filters
        self.actions = actions
    }

    /// The rule every new project gets: e-mail its members about new and regressed issues.
    public static var projectDefault: AlertRule {
        AlertRule(name: defaultName, conditions: [.firstSeen, .regression], actions: [.email(.members)])
    }
}

/// What happened to an issue with the event just stored.
public enum AlertTrigger: String, Sendable, Hashable, CaseIterable {
    case newIssue = "new_issue"
    case regression
    /// An ignored issue came back.
    case escalating
    case frequency
    case userFrequency = "user_frequency"
    /// Someone assigned the issue to the recipient (no rule: the assignee is told).
    case assigned
}

/// The window of a frequency condition.
public enum AlertInterval: String, Sendable, Hashable, CaseIterable {
    case oneMinute = "1m", fiveMinutes = "5m", fifteenMinutes = "15m", oneHour = "1h", oneDay = "1d", oneWeek = "1w"

    public var seconds: Double {
        switch self {
        case .oneMinute: 60
        case .fiveMinutes: 300
        case .fifteenMinutes: 900
        case .oneHour: 3600
        case .oneDay: 86400
        case .oneWeek: 604_800
        }
    }
}

public enum AlertCondition: Sendable, Hashable {
    case firstSeen
    case regression
    /// An ignored issue comes back (Sentry: "changes state from archived to escalating").
    case reappeared
    /// Seen more than `count` times within `interval`.
    case eventFrequency(count: Int, interval: AlertInterval)
    /// Seen by more than `count` distinct users within `interval`.
    case uniqueUserFrequency(count: Int, interval: AlertInterval)

    /// The largest count a frequency condition compares with.
    public static let maxCount = 1_000_000_000

    public var trigger: AlertTrigger {
        switch self {
        case .firstSeen: .newIssue
        case .regression: .regression
        case .reappeared: .escalating
        case .eventFrequency: .frequency
        case .uniqueUserFrequency: .userFrequency
        }
    }
}

public enum AlertFilter: Sendable, Hashable {
    public enum Comparison: String, Sendable, Hashable { case eq, gte, lte }
    /// The longest age a filter compares with: ten years, in seconds.
    public static let maxAgeSeconds = 10 * 365 * 86_400
    public enum Age: String, Sendable, Hashable { case older, newer }

    /// The event's level compared with `level` (fatal > error > warning > info > debug).
    case level(Comparison, String)
    /// The event has tag `key` equal to `value`.
    case tag(key: String, value: String)
    /// The issue was first seen more (`older`) or less (`newer`) than `seconds` ago.
    case age(Age, seconds: Double)
}

public enum AlertAction: Sendable, Hashable {
    public enum Recipients: Sendable, Hashable {
        /// Every active member of the project.
        case members
        case addresses([String])
    }

    case email(Recipients)
    /// Generic JSON signed with `X-Spyglass-Signature` (HMAC-SHA256 of the body with `secret`).
    case webhook(url: String, secret: String)
    case slack(url: String)
    case discord(url: String)

    /// The delivery channel's name.
    public var channel: String {
        switch self {
        case .email: "email"
        case .webhook: "webhook"
        case .slack: "slack"
        case .discord: "discord"
        }
    }
}

/// What a rule is evaluated against: the event just stored and its issue.
public struct AlertContext: Sendable {
    /// What happened to the issue with this event (new, regression, escalating); frequency is counted separately.
    public var transitions: Set<AlertTrigger>
    public var level: String
    public var environment: String?
    public var tags: [EventTag]
    public var issueFirstSeen: Date
    public var now: Date

    public init(
        transitions: Set<AlertTrigger>, level: String, environment: String?, tags: [EventTag], issueFirstSeen: Date, now: Date
    ) {
        self.transitions = transitions
        self.level = level
        self.environment = environment
        self.tags = tags
        self.issueFirstSeen = issueFirstSeen
        self.now = now
    }
}

extension AlertRule {
    /// The triggers this rule fires for in `context`, or nil when it does not fire.
    ///
    /// `count(condition)` answers a frequency condition's count within its interval; it is only asked when the
    /// other parts of the rule could still let it fire (counting costs queries).
    public func evaluate(_ context: AlertContext, count: (AlertCondition) throws -> Int) rethrows -> AlertTrigger? {
        guard enabled, !conditions.isEmpty else { return nil }
        if let environment, context.environment != environment { return nil }
        guard filtersPass(context) else { return nil }
        var fired: AlertTrigger?
        for condition in conditions {
            let holds: Bool
            switch condition {
            case .firstSeen, .regression, .reappeared:
                holds = context.transitions.contains(condition.trigger)
            case .eventFrequency(let threshold, _), .uniqueUserFrequency(let threshold, _):
                holds = try count(condition) > threshold
            }
            if holds {
                fired = fired ?? condition.trigger
                if actionMatch == .any { return fired }
            } else if actionMatch != .any {
                return nil
            }
        }
        return fired
    }

    func filtersPass(_ context: AlertContext) -> Bool {
        guard !filters.isEmpty else { return true }
        let passed = filters.lazy.map { $0.passes(context) }
        switch filterMatch {
        case .all: return passed.allSatisfy { $0 }
        case .any: return passed.contains(true)
        case .none: return !passed.contains(true)
        }
    }
}

extension AlertFilter {
    static let levelRank = ["debug": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4]

    func passes(_ context: AlertContext) -> Bool {
        switch self {
        case .level(let comparison, let level):
            guard let event = Self.levelRank[context.level], let wanted = Self.levelRank[level] else { return false }
            switch comparison {
            case .eq: return event == wanted
            case .gte: return event >= wanted
            case .lte: return event <= wanted
            }
        case .tag(let key, let value):
            return context.tags.contains { $0.key == key && $0.value == value }
        case .age(let age, let seconds):
            let issueAge = context.now.timeIntervalSince(context.issueFirstSeen)
            return age == .older ? issueAge > seconds : issueAge < seconds
        }
    }
}
