import Foundation
import GRDB
import SpyglassCore
import SpyglassStorageKit
import SpyglassProtocol

/// What the events of one writer transaction share, so each costs fewer statements: the releases (and their
/// environments) already written in it, and each project's alert rules.
///
/// Most events of a batch name the same release: the first one writes it as before, the others only widen the
/// first/last-event range kept here, which ``finish(_:)`` writes once before the commit. Nothing in the
/// transaction reads those columns in between. Alert rules cannot change within a transaction (their API
/// writes in transactions of its own), so a project's rules are read and parsed once per batch.
///
/// One per transaction: a failed batch is retried job by job, each with a new one.
final class WriterBatch {
    private struct ReleaseKey: Hashable {
        var projectID: Int64
        var version: String
    }

    private struct EnvironmentKey: Hashable {
        var releaseID: Int64
        var environment: String
    }

    /// The cache the request tasks compress events from.
    private let dictionaries: PayloadDictionaryCache
    /// Dictionaries written or read in the transaction, for ``PayloadDictionaryCache`` once it is committed.
    private(set) var dictionariesToCache: [PayloadDictionaryCache.Key: PayloadDictionary] = [:]
    /// Side items rolled back in the transaction (their kind and the error), logged and counted after it.
    var droppedSideItems: [(kind: String, error: String)] = []

    init(dictionaries: PayloadDictionaryCache = PayloadDictionaryCache()) {
        self.dictionaries = dictionaries
    }

    func cache(_ dictionary: PayloadDictionary, projectID: Int64, hash: String) {
        dictionariesToCache[PayloadDictionaryCache.Key(projectID: projectID, hash: hash)] = dictionary
    }

    /// Whether dictionary `id` of the hash is neither cached nor read in this batch yet: several events of a hash
    /// the cache lacks (a burst of a new issue, the first batch after a start) read it once.
    func lacksDictionary(_ id: Int64, projectID: Int64, hash: String) -> Bool {
        let key = PayloadDictionaryCache.Key(projectID: projectID, hash: hash)
        return dictionariesToCache[key]?.id != id && dictionaries.peek(key)?.id != id
    }

    private var releases: [ReleaseKey: (id: Int64, span: EventTimeSpan)] = [:]
    private var environments: [EnvironmentKey: EventTimeSpan] = [:]
    private var rules: [Int64: [WriterAlertRule]] = [:]

    /// The event's release id, writing the release (and its environment) when the batch has not yet.
    func recordRelease(_ event: NormalizedEvent, projectID: Int64, in db: Database) throws -> Int64? {
        guard let version = event.release else { return nil }
        let timestamp = event.timestamp.timeIntervalSince1970
        let key = ReleaseKey(projectID: projectID, version: version)
        let releaseID: Int64
        if let seen = releases[key] {
            releaseID = seen.id
            releases[key]?.span.widen(timestamp)
        } else {
            releaseID = try LifecycleRows.recordRelease(
                version, timestamp: timestamp, received: event.received.timeIntervalSince1970, projectID: projectID, in: db)
            releases[key] = (releaseID, EventTimeSpan(timestamp))
        }
        if let environment = event.environment {
            let key = EnvironmentKey(releaseID: releaseID, environment: environment)
            if environments[key] != nil {
                environments[key]?.widen(timestamp)
            } else {
                try LifecycleRows.recordEnvironment(environment, releaseID: releaseID, first: timestamp, last: timestamp, in: db)
                environments[key] = EventTimeSpan(timestamp)
            }
        }
        return releaseID
    }

    /// The project's enabled rules, in id order, read once per batch. A rule whose stored spec no longer parses
    /// is left out (as evaluation always did).
    func rules(projectID: Int64, in db: Database) throws -> [WriterAlertRule] {
        if let cached = rules[projectID] { return cached }
        let loaded = try WriterStatement(
            """
            SELECT id, spec, frequency_minutes, on_new, on_regression, on_reappeared, counts_events, counts_users
            FROM alert_rule WHERE project_id = ? AND enabled = 1 ORDER BY id
            """, in: db
        ).fetchAll(projectID) { row in
            WriterAlertRule(
                id: row.int64(0), spec: row.string(1), frequencyMinutes: row.int64(2), onNew: row.bool(3),
                onRegression: row.bool(4), onReappeared: row.bool(5), countsEvents: row.bool(6), countsUsers: row.bool(7))
        }.compactMap { $0 }
        rules[projectID] = loaded
        return loaded
    }

    /// Writes the first/last event times the batch widened. Call once, before the commit.
    func finish(_ db: Database) throws {
        for (id, span) in releases.values where span.isWidened {
            try LifecycleRows.widenRelease(id, first: span.seen.lowerBound, last: span.seen.upperBound, in: db)
        }
        for (key, span) in environments where span.isWidened {
            try LifecycleRows.recordEnvironment(
                key.environment, releaseID: key.releaseID, first: span.seen.lowerBound, last: span.seen.upperBound, in: db)
        }
    }
}
