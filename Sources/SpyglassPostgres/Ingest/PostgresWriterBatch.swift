import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassStorageKit

/// What the events of one writer transaction share, so each costs fewer statements (as SQLite's `WriterBatch`):
/// the releases and environments already written in it, each project's alert rules, and the counters that nothing
/// in the transaction reads until they are flushed.
///
/// Releases: the first event of a release writes it, the others only widen the first/last-event range kept here,
/// written once by ``finish(_:)``. Rules cannot change within a transaction, so they are read once per project.
/// Tag counts (`issue_tag`) are only read outside the writer: they are summed here and written by ``finish(_:)``
/// in one statement. Hourly counts (`issue_hour`) are read by the writer only for an ignored issue's escalation and
/// for frequency rules: ``flushHours(_:)`` writes them before any such read, and ``finish(_:)`` at the end.
///
/// One per transaction: a failed batch is retried job by job, each with a new one.
final class PostgresWriterBatch {
    private struct ReleaseKey: Hashable {
        var projectID: Int64
        var version: String
    }

    private struct EnvironmentKey: Hashable {
        var releaseID: Int64
        var environment: String
    }

    private struct TagKey: Hashable, Comparable {
        var issueID: Int64
        var key: String
        var value: String

        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.issueID, lhs.key, lhs.value) < (rhs.issueID, rhs.key, rhs.value)
        }
    }

    private struct HourKey: Hashable, Comparable {
        var issueID: Int64
        var hour: Int64

        static func < (lhs: Self, rhs: Self) -> Bool { (lhs.issueID, lhs.hour) < (rhs.issueID, rhs.hour) }
    }

    /// The cache the request tasks compress events from.
    private let dictionaries: PayloadDictionaryCache
    /// Dictionaries written or read in the transaction, for ``PayloadDictionaryCache`` once it is committed.
    private(set) var dictionariesToCache: [PayloadDictionaryCache.Key: PayloadDictionary] = [:]
    /// Side items rolled back in the transaction (their kind and the error), logged and counted after it.
    var droppedSideItems: [(kind: String, error: String)] = []

    private var releases: [ReleaseKey: (id: Int64, span: EventTimeSpan)] = [:]
    private var environments: [EnvironmentKey: EventTimeSpan] = [:]
    private var rules: [Int64: [WriterAlertRule]] = [:]
    private var projects: [Int64: (project: (slug: String, name: String), members: [String])] = [:]
    private var tags: [TagKey: (count: Int64, first: Double, last: Double)] = [:]
    private var hours: [HourKey: Int64] = [:]

    init(dictionaries: PayloadDictionaryCache) {
        self.dictionaries = dictionaries
    }

    func cache(_ dictionary: PayloadDictionary, projectID: Int64, hash: String) {
        dictionariesToCache[PayloadDictionaryCache.Key(projectID: projectID, hash: hash)] = dictionary
    }

    /// Whether dictionary `id` of the hash is neither cached nor read in this batch yet.
    func lacksDictionary(_ id: Int64, projectID: Int64, hash: String) -> Bool {
        let key = PayloadDictionaryCache.Key(projectID: projectID, hash: hash)
        return dictionariesToCache[key]?.id != id && dictionaries.peek(key)?.id != id
    }

    /// The event's release id, writing the release (and its environment) when the batch has not yet.
    func recordRelease(_ event: NormalizedEvent, projectID: Int64, in sql: IngestSQL) throws -> Int64? {
        guard let version = event.release else { return nil }
        let timestamp = event.timestamp.timeIntervalSince1970
        let key = ReleaseKey(projectID: projectID, version: version)
        let releaseID: Int64
        if let seen = releases[key] {
            releaseID = seen.id
            releases[key]?.span.widen(timestamp)
        } else {
            releaseID = try PostgresLifecycleRows.recordRelease(
                version, first: timestamp, last: timestamp, received: event.received.timeIntervalSince1970,
                projectID: projectID, in: sql)
            releases[key] = (releaseID, EventTimeSpan(timestamp))
        }
        if let environment = event.environment {
            let key = EnvironmentKey(releaseID: releaseID, environment: environment)
            if environments[key] != nil {
                environments[key]?.widen(timestamp)
            } else {
                try PostgresLifecycleRows.recordEnvironment(
                    environment, releaseID: releaseID, first: timestamp, last: timestamp, in: sql)
                environments[key] = EventTimeSpan(timestamp)
            }
        }
        return releaseID
    }

    /// The releases of a set's events that the batch has not written yet, each with the first and last event times
    /// of all the set's events in it and of each environment: the set's statement widens those the batch's first
    /// read found stored (``recordReleases(_:pending:found:in:)`` writes the others).
    func pendingReleases(_ events: [(event: NormalizedEvent, projectID: Int64)]) -> [PendingRelease] {
        var spans: [ReleaseKey: Int] = [:]
        var pending: [PendingRelease] = []
        for (event, projectID) in events {
            guard let version = event.release else { continue }
            let key = ReleaseKey(projectID: projectID, version: version)
            guard releases[key] == nil else { continue }
            let timestamp = event.timestamp.timeIntervalSince1970
            let index: Int
            if let seen = spans[key] {
                index = seen
                pending[index].seen = Self.widened(pending[index].seen, timestamp)
            } else {
                index = pending.count
                spans[key] = index
                pending.append(
                    PendingRelease(
                        projectID: projectID, version: version, seen: timestamp...timestamp,
                        received: event.received.timeIntervalSince1970))
            }
            if let environment = event.environment {
                pending[index].environments[environment] =
                    pending[index].environments[environment].map { Self.widened($0, timestamp) } ?? timestamp...timestamp
            }
        }
        // In key order: two writers lock the releases they widen in one order.
        return pending.sorted { ($0.projectID, $0.version) < ($1.projectID, $1.version) }
    }

    /// A release a set's events name that the batch has not written yet (``pendingReleases(_:)``).
    struct PendingRelease {
        var projectID: Int64
        var version: String
        var seen: ClosedRange<Double>
        var received: Double
        var environments: [String: ClosedRange<Double>] = [:]

        /// The environments in name order.
        var sortedEnvironments: [(name: String, seen: ClosedRange<Double>)] {
            environments.sorted { $0.key < $1.key }.map { (name: $0.key, seen: $0.value) }
        }
    }

    /// The release ids of a set's events (nil for an event without one). Of `pending` (``pendingReleases(_:)``),
    /// those found stored (`found`: the id of each, by its index) are widened with their environments by the set's
    /// statement (returned: ``ReleaseWidening``); the others are written now. Each event then widens what the batch
    /// holds (``finish(_:)`` writes it).
    func recordReleases(
        _ events: [(event: NormalizedEvent, projectID: Int64)], pending: [PendingRelease], found: [Int: Int64],
        in sql: IngestSQL
    ) throws -> (ids: [Int64?], widened: [ReleaseWidening]) {
        var widened: [ReleaseWidening] = []
        for (index, release) in pending.enumerated() {
            let key = ReleaseKey(projectID: release.projectID, version: release.version)
            if let id = found[index] {
                releases[key] = (id, EventTimeSpan(written: release.seen))
                for environment in release.sortedEnvironments {
                    environments[EnvironmentKey(releaseID: id, environment: environment.name)] = EventTimeSpan(written: environment.seen)
                }
                widened.append(ReleaseWidening(id: id, seen: release.seen, environments: release.sortedEnvironments))
                continue
            }
            let id = try PostgresLifecycleRows.recordRelease(
                release.version, first: release.seen.lowerBound, last: release.seen.upperBound, received: release.received,
                projectID: release.projectID, in: sql)
            releases[key] = (id, EventTimeSpan(written: release.seen))
            for environment in release.sortedEnvironments {
                let environmentKey = EnvironmentKey(releaseID: id, environment: environment.name)
                guard environments[environmentKey] == nil else { continue }
                try PostgresLifecycleRows.recordEnvironment(
                    environment.name, releaseID: id, first: environment.seen.lowerBound, last: environment.seen.upperBound,
                    in: sql)
                environments[environmentKey] = EventTimeSpan(written: environment.seen)
            }
        }
        return (try events.map { try recordRelease($0.event, projectID: $0.projectID, in: sql) }, widened)
    }

    /// A stored release whose first and last event times (and its environments', created when missing) the set's
    /// statement widens.
    struct ReleaseWidening {
        var id: Int64
        var seen: ClosedRange<Double>
        var environments: [(name: String, seen: ClosedRange<Double>)]
    }

    private static func widened(_ range: ClosedRange<Double>, _ timestamp: Double) -> ClosedRange<Double> {
        min(range.lowerBound, timestamp)...max(range.upperBound, timestamp)
    }

    /// Gives the project's enabled rules, in id order, as the batch's first read found them.
    func setRules(_ loaded: [WriterAlertRule], projectID: Int64) {
        rules[projectID] = loaded
    }

    /// The project's enabled rules, in id order, read once per batch; a rule whose spec no longer parses is left out.
    func rules(projectID: Int64, in sql: IngestSQL) throws -> [WriterAlertRule] {
        if let cached = rules[projectID] { return cached }
        let rows = try sql.rows(
            """
            SELECT id, spec, frequency_minutes, on_new, on_regression, on_reappeared, counts_events, counts_users
            FROM alert_rule WHERE project_id = \(projectID) AND enabled = 1 ORDER BY id
            """)
        let loaded = try rows.compactMap { row in
            let (id, spec, frequency, new, regression, reappeared, events, users) = try row.decode(
                (Int64, String?, Int64, Int64, Int64, Int64, Int64, Int64).self)
            return WriterAlertRule(
                id: id, spec: spec, frequencyMinutes: frequency, onNew: new != 0, onRegression: regression != 0,
                onReappeared: reappeared != 0, countsEvents: events != 0, countsUsers: users != 0)
        }
        rules[projectID] = loaded
        return loaded
    }

    /// Gives the project's slug, name and active members' addresses, as the batch's first read found them.
    func setProject(_ projectID: Int64, slug: String, name: String, members: [String]) {
        projects[projectID] = ((slug, name), members)
    }

    /// The project's slug and name (for outbox rows), read once per batch with its members' addresses.
    func project(_ projectID: Int64, in sql: IngestSQL) throws -> (slug: String, name: String) {
        try outboxProject(projectID, in: sql).project
    }

    /// The e-mail addresses of the project's active members, in user id order, read once per batch.
    func memberEmails(_ projectID: Int64, in sql: IngestSQL) throws -> [String] {
        try outboxProject(projectID, in: sql).members
    }

    private func outboxProject(_ projectID: Int64, in sql: IngestSQL) throws -> (project: (slug: String, name: String), members: [String]) {
        if let cached = projects[projectID] { return cached }
        guard
            let row = try sql.row(
                """
                SELECT p.slug, p.name, ARRAY(
                    SELECT u.email FROM project_member m JOIN "user" u ON u.id = m.user_id
                    WHERE m.project_id = p.id AND u.is_active = 1 ORDER BY u.id)
                FROM project p WHERE p.id = \(projectID)
                """)
        else {
            throw DomainError(.notFound, "project \(projectID) no longer exists")
        }
        let (slug, name, members) = try row.decode((String, String, [String]).self)
        projects[projectID] = ((slug, name), members)
        return ((slug, name), members)
    }

    /// Counts an event of the issue under a tag, to be written by ``finish(_:)``.
    func countTag(_ tag: EventTag, issueID: Int64, timestamp: Double) {
        let key = TagKey(issueID: issueID, key: tag.key, value: tag.value)
        if let seen = tags[key] {
            tags[key] = (seen.count + 1, min(seen.first, timestamp), max(seen.last, timestamp))
        } else {
            tags[key] = (1, timestamp, timestamp)
        }
    }

    /// Counts an event of the issue in an hour (the event's clock), to be written before `issue_hour` is read.
    func countHour(_ hour: Int64, issueID: Int64) {
        hours[HourKey(issueID: issueID, hour: hour), default: 0] += 1
    }

    /// The tag and hourly counts gathered so far, taken from the batch for a statement to write (`\(upserting:)`).
    func takeCounts() -> Counts {
        let hourKeys = hours.keys.sorted()
        let keys = tags.keys.sorted()
        let values = keys.map { tags[$0] ?? (0, 0, 0) }
        defer {
            hours = [:]
            tags = [:]
        }
        return Counts(
            hourIssues: hourKeys.map(\.issueID), hours: hourKeys.map(\.hour),
            hourCounts: hourKeys.map { hours[$0] ?? 0 },
            tagIssues: keys.map(\.issueID), tagKeys: keys.map(\.key), tagValues: keys.map(\.value),
            tagCounts: values.map(\.count), tagFirst: values.map(\.first), tagLast: values.map(\.last))
    }

    /// Tag and hourly counts to add, in key order (so two nodes lock the rows in the same order).
    struct Counts {
        var hourIssues: [Int64]
        var hours: [Int64]
        var hourCounts: [Int64]
        var tagIssues: [Int64]
        var tagKeys: [String]
        var tagValues: [String]
        var tagCounts: [Int64]
        var tagFirst: [Double]
        var tagLast: [Double]

        var isEmpty: Bool { hourIssues.isEmpty && tagIssues.isEmpty }
    }

    /// Writes the hourly counts gathered so far: one upsert of every (issue, hour) pair, in key order.
    func flushHours(_ sql: IngestSQL) throws {
        guard !hours.isEmpty else { return }
        let keys = hours.keys.sorted()
        let counts = keys.map { hours[$0] ?? 0 }
        hours = [:]
        try sql.run(
            """
            INSERT INTO issue_hour (issue_id, hour, count)
            SELECT * FROM unnest(\(keys.map(\.issueID))::bigint[], \(keys.map(\.hour))::bigint[], \(counts)::bigint[])
            ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hour.count + excluded.count
            """)
    }

    /// Whether ``finish(_:)`` has anything to write.
    var hasUnwritten: Bool {
        releases.values.contains { $0.span.isWidened } || environments.values.contains(where: \.isWidened)
            || !hours.isEmpty || !tags.isEmpty
    }

    /// Writes what the batch gathered: widened first/last event times, tag and hourly counts. Call once, before the
    /// commit.
    func finish(_ sql: IngestSQL) throws {
        for (id, span) in releases.values where span.isWidened {
            try PostgresLifecycleRows.widenRelease(id, first: span.seen.lowerBound, last: span.seen.upperBound, in: sql)
        }
        for (key, span) in environments where span.isWidened {
            try PostgresLifecycleRows.recordEnvironment(
                key.environment, releaseID: key.releaseID, first: span.seen.lowerBound, last: span.seen.upperBound, in: sql)
        }
        // Hourly and tag counts in one statement.
        let counts = takeCounts()
        guard !counts.isEmpty else { return }
        _ = try sql.prepared("WITH \(upserting: counts) SELECT 1")
    }
}

extension IngestStatement.StringInterpolation {
    /// Two common table expressions, `hours AS (…), tags AS (…)`, adding `counts`; a statement that reads neither
    /// runs them after its own query (PostgreSQL runs every data-modifying one to completion). `drawn`: the issue
    /// ids may be placeholders of the ids the statement draws (``PostgresEventSet/Identities``; its `drawn`).
    mutating func appendInterpolation(upserting counts: PostgresWriterBatch.Counts, drawn: Bool = false) {
        let (issueID, from) =
            drawn ? (PostgresEventSet.drawnID("v.issue_id", "issues"), ", drawn d") : ("v.issue_id", "")
        appendLiteral(
            "hours AS (INSERT INTO issue_hour (issue_id, hour, count) SELECT \(issueID), v.hour, v.count FROM unnest(")
        appendInterpolation(counts.hourIssues)
        appendLiteral("::bigint[], ")
        appendInterpolation(counts.hours)
        appendLiteral("::bigint[], ")
        appendInterpolation(counts.hourCounts)
        appendLiteral(
            """
            ::bigint[]) AS v(issue_id, hour, count)\(from)
                ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hour.count + excluded.count
            ), tags AS (
                INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen)
                SELECT \(issueID), v.key, v.value, v.times_seen, v.first_seen, v.last_seen FROM unnest(
            """)
        appendInterpolation(counts.tagIssues)
        appendLiteral("::bigint[], ")
        appendInterpolation(counts.tagKeys)
        appendLiteral("::text[], ")
        appendInterpolation(counts.tagValues)
        appendLiteral("::text[], ")
        appendInterpolation(counts.tagCounts)
        appendLiteral("::bigint[], ")
        appendInterpolation(counts.tagFirst)
        appendLiteral("::float8[], ")
        appendInterpolation(counts.tagLast)
        appendLiteral(
            """
            ::float8[]) AS v(issue_id, key, value, times_seen, first_seen, last_seen)\(from)
                ON CONFLICT (issue_id, key, value) DO UPDATE SET
                    times_seen = issue_tag.times_seen + excluded.times_seen,
                    first_seen = LEAST(issue_tag.first_seen, excluded.first_seen),
                    last_seen = GREATEST(issue_tag.last_seen, excluded.last_seen)
            )
            """)
    }
}
