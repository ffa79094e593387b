/// The closed sets of values storage keeps as text: each read from a row by its column name into one of these, so
/// a misspelt status is a compile error, not a query that silently matches nothing. The raw values are the
/// stored (and Sentry's) spellings.

/// Where an issue stands.
public enum IssueStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case unresolved, resolved, ignored
}

/// Sentry's finer state: why an unresolved issue is open, or how an ignored one is archived.
public enum IssueSubstatus: String, Sendable, Hashable, CaseIterable, Codable {
    /// Unresolved: first seen in the last seven days.
    case new
    /// Unresolved: came back after it was resolved (seven days, then `ongoing`).
    case regressed
    /// Unresolved: an ignore condition fired.
    case escalating
    case ongoing
    case archivedForever = "archived_forever"
    case archivedUntilEscalating = "archived_until_escalating"
    case archivedUntilConditionMet = "archived_until_condition_met"
}

/// An event's or an issue's severity (the normalizer maps every other spelling onto these five).
public enum Level: String, Sendable, Hashable, CaseIterable, Codable {
    case fatal, error, warning, info, debug

    /// The level a stored text reads as: an unknown one (never written by the normalizer) reads as `error`.
    public init(stored text: String) { self = Level(rawValue: text) ?? .error }
}

/// What an issue's activity entry records (Sentry's activity types).
public enum ActivityKind: String, Sendable, Hashable, CaseIterable, Codable {
    case firstSeen = "first_seen"
    case setRegression = "set_regression"
    case setResolved = "set_resolved"
    case setIgnored = "set_ignored"
    case setUnresolved = "set_unresolved"
    case setEscalating = "set_escalating"
    case autoResolved = "auto_resolved"
    case assigned, unassigned, merge, note
}
