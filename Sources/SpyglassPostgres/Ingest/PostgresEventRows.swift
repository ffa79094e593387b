import Foundation
import NIOCore
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// Stores one event with its issue bookkeeping, inside the writer's transaction: SQLite's `EventRows`, statement
/// for statement, except where noted.
///
/// The event joins the issue of any of its hashes (missing hashes are attached to it), else a new issue is created
/// with the next short id of the project. Then: first/last seen (a late event moves first seen back), times seen,
/// distinct users, level, tag values and hourly counts (gathered by the batch), lifecycle changes (regression,
/// unignore) and the alert rules they fire (outbox rows).
enum PostgresEventRows {
    /// What was stored: the event's issue and the dictionary its primary hash got, if it made one.
    struct Stored {
        var issueID: Int64
        var dictionary: Int64?
    }

    /// Returns nil when the project already has an event with this id (nothing is written).
    static func insert(
        _ event: NormalizedEvent, payload plan: PayloadPlan, projectID: Int64, batch: PostgresWriterBatch,
        in sql: IngestSQL
    ) throws -> Stored? {
        let timestamp = event.timestamp.timeIntervalSince1970
        // One query for all the event's hashes (SQLite asks hash by hash); read in the event's order below.
        var found: [String: (issue: Int64, dictionary: Int64?)] = [:]
        for row in try sql.rows(
            "SELECT hash, issue_id, dictionary_id FROM grouping_hash WHERE project_id = \(projectID) AND hash = ANY(\(event.hashes)::text[])")
        {
            let (hash, issue, dictionary) = try row.decode((String, Int64, Int64?).self)
            found[hash] = (issue, dictionary)
        }
        var known: Int64?
        var primaryDictionary: Int64?
        var missing: [String] = []
        for (index, hash) in event.hashes.enumerated() {
            if let (issue, dictionary) = found[hash] {
                if known == nil { known = issue }
                if index == 0 { primaryDictionary = dictionary }
            } else {
                missing.append(hash)
            }
        }
        let settled = plan.settle(primaryDictionary: primaryDictionary)
        var makesDictionary = false
        if case .makeDictionary = settled { makesDictionary = true }
        // A new issue (or dictionary) is written before its event, so a duplicate must be found first; joining a known
        // issue, the event row is the first write, and its unique key finds the duplicate.
        if known == nil || makesDictionary,
            try sql.row("SELECT 1 FROM event WHERE project_id = \(projectID) AND event_id = \(event.eventID)") != nil
        {
            return nil
        }
        let issueID: Int64
        if let known { issueID = known } else { issueID = try createIssue(for: event, projectID: projectID, in: sql) }
        let payload = try storedPayload(settled, event: event, projectID: projectID, batch: batch, in: sql)
        guard
            let rowID = try sql.row(
                """
                INSERT INTO event (project_id, event_id, timestamp, received, level, platform, release, environment,
                    payload, payload_raw, sent_at, client_ip, issue_id, primary_hash)
                VALUES (\(projectID), \(event.eventID), \(timestamp), \(event.received.timeIntervalSince1970), \(event.level),
                    \(event.platform), \(event.release)::text, \(event.environment)::text, \(ByteBuffer(bytes: payload.blob)),
                    \(payload.raw ? 1 : 0), \(event.sentAt?.timeIntervalSince1970)::float8, \(event.clientIP)::text, \(issueID),
                    \(event.hashes.first)::text)
                ON CONFLICT (project_id, event_id) DO NOTHING
                RETURNING id
                """)?.decode(Int64.self)
        else {
            // Stored by another node since the check above: the issue made for it would be left without events.
            if known == nil { throw IngestRace(description: "event \(event.eventID) was stored by another writer meanwhile") }
            return nil
        }
        for hash in missing {
            let dictionary = hash == event.hashes.first ? payload.dictionary : nil
            let inserted = try sql.row(
                """
                INSERT INTO grouping_hash (project_id, hash, config, issue_id, dictionary_id)
                VALUES (\(projectID), \(hash), \(Grouping.config), \(issueID), \(dictionary)::bigint)
                ON CONFLICT DO NOTHING
                RETURNING 1
                """)
            // Another node made an issue for this hash meanwhile (this insert waited for its commit): joining it
            // on a fresh read keeps one issue per hash.
            if inserted == nil, known == nil {
                throw IngestRace(description: "grouping hash \(hash) was stored by another writer meanwhile")
            }
        }
        if let dictionary = payload.dictionary, !missing.contains(event.hashes[0]) {
            // A hash stored before dictionaries existed gets its own now.
            try sql.run(
                """
                UPDATE grouping_hash SET dictionary_id = \(dictionary)
                WHERE project_id = \(projectID) AND hash = \(event.hashes[0]) AND dictionary_id IS NULL
                """)
        }
        let releaseID = try batch.recordRelease(event, projectID: projectID, in: sql)

        var newUser: Int64 = 0
        if let userKey = event.userKey {
            let inserted = try sql.row(
                """
                INSERT INTO issue_user (issue_id, user_key, last_seen, user_id, email, username, ip_address)
                VALUES (\(issueID), \(userKey), \(timestamp), \(event.user?.id)::text, \(event.user?.email)::text,
                    \(event.user?.username)::text, \(event.user?.ipAddress)::text)
                ON CONFLICT (issue_id, user_key) DO UPDATE SET times_seen = issue_user.times_seen + 1,
                    last_seen = GREATEST(coalesce(issue_user.last_seen, 0), excluded.last_seen)
                RETURNING (xmax = 0)
                """)
            // xmax is 0 on a row this statement inserted (PostgreSQL's way of telling insert from update).
            newUser = try inserted?.decode(Bool.self) == true ? 1 : 0
        }
        // SQLite's two UPDATEs in one (both see the row as it was, and the second assigns only what the first leaves
        // alone); RETURNING gives what the lifecycle decisions read, SQLite's two SELECTs.
        guard
            let updated = try sql.row(
                """
                UPDATE issue SET times_seen = times_seen + 1, user_count = user_count + \(newUser),
                    last_event_id = CASE WHEN last_event_id IS NULL OR \(timestamp) >= last_seen THEN \(rowID) ELSE last_event_id END,
                    level = CASE WHEN \(timestamp) >= last_seen THEN \(event.level) ELSE level END,
                    last_release = CASE WHEN \(timestamp) >= last_seen AND \(event.release)::text IS NOT NULL
                        THEN \(event.release)::text ELSE last_release END,
                    last_seen = GREATEST(last_seen, \(timestamp)),
                    first_event_id = CASE WHEN first_event_id IS NULL OR \(timestamp) < first_seen THEN \(rowID) ELSE first_event_id END,
                    first_seen = LEAST(first_seen, \(timestamp))
                WHERE id = \(issueID)
                RETURNING status, resolution, resolution_release, ignore_state, times_seen, user_count
                """)
        else {
            throw DomainError(.notFound, "issue \(issueID) no longer exists")
        }
        let (status, resolution, resolutionRelease, ignoreState, timesSeen, userCount) = try updated.decode(
            (String, String?, String?, String?, Int64, Int64).self)
        for tag in event.tags { batch.countTag(tag, issueID: issueID, timestamp: timestamp) }
        batch.countHour(Int64((timestamp / 3600).rounded(.down)), issueID: issueID)
        var transitions: Set<AlertTrigger> = []
        if known == nil {
            try PostgresLifecycleRows.issueCreated(issueID, releaseID: releaseID, event: event, in: sql)
            transitions.insert(.newIssue)
        } else {
            let issue = PostgresLifecycleRows.JoinedIssue(
                status: IssueStatus(rawValue: status), resolution: resolution, resolutionRelease: resolutionRelease,
                ignoreState: ignoreState, timesSeen: Int(timesSeen), userCount: Int(userCount))
            if let transition = try PostgresLifecycleRows.eventJoined(
                issueID, issue: issue, eventRowID: rowID, event: event, projectID: projectID, batch: batch, in: sql)
            {
                transitions.insert(transition)
            }
        }
        try PostgresAlertRows.evaluate(
            event, issueID: issueID, transitions: transitions, projectID: projectID, batch: batch, in: sql)
        return Stored(issueID: issueID, dictionary: payload.dictionary)
    }

    private static func createIssue(for event: NormalizedEvent, projectID: Int64, in sql: IngestSQL) throws -> Int64 {
        guard
            let shortID = try sql.row(
                "UPDATE project SET next_short_id = next_short_id + 1 WHERE id = \(projectID) RETURNING next_short_id - 1"
            )?.decode(Int64.self)
        else {
            throw DomainError(.notFound, "project \(projectID) no longer exists")
        }
        let timestamp = event.timestamp.timeIntervalSince1970
        let summary = event.summary
        guard
            let issueID = try sql.row(
                """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, substatus,
                    first_seen, last_seen, times_seen, user_count, first_release, last_release, substatus_since)
                VALUES (\(projectID), \(shortID), \(summary.title), \(summary.culprit), \(summary.type),
                    \(String(decoding: JSONWriter.bytes(summary.metadata), as: UTF8.self)), \(event.level), 'unresolved', 'new',
                    \(timestamp), \(timestamp), 0, 0, \(event.release)::text, \(event.release)::text, \(timestamp))
                RETURNING id
                """)?.decode(Int64.self)
        else {
            throw DomainError(.unavailable, "the issue was not stored")
        }
        try sql.run(
            """
            INSERT INTO issue_search (issue_id, title, culprit, message)
            VALUES (\(issueID), \(summary.title), \(summary.culprit), \(summary.message))
            """)
        return issueID
    }

    /// The blob to store for a settled payload (SQLite's `EventRows.storedPayload`): a payload that becomes its
    /// hash's dictionary is written to `payload_dictionary` (`dictionary`: its id); a dictionary the hash has and
    /// the cache lacks is read for the cache. The cache gets either after the commit.
    static func storedPayload(
        _ settled: PayloadPlan.Settled, event: NormalizedEvent, projectID: Int64, batch: PostgresWriterBatch,
        in sql: IngestSQL
    ) throws -> (blob: [UInt8], raw: Bool, dictionary: Int64?) {
        switch settled {
        case .store(let blob, let raw, let dictionaryToCache):
            if let id = dictionaryToCache, batch.lacksDictionary(id, projectID: projectID, hash: event.hashes[0]) {
                // A dictionary that does not read back is left out of the cache: its events fail on reading alone.
                // (Only decoding may fail quietly: a failed query ends PostgreSQL's transaction.)
                if let data = try sql.row("SELECT data FROM payload_dictionary WHERE id = \(id)")?.decode(ByteBuffer.self),
                    let payload = try? EventPayloadCodec.payloadBytes(Array(data.readableBytesView), dictionary: { _ in
                        throw DomainError(.unavailable, "stored event payload is damaged (dictionary \(id) refers to another)")
                    })
                {
                    batch.cache(PayloadDictionary(id: id, payload: Array(payload)), projectID: projectID, hash: event.hashes[0])
                }
            }
            return (blob, raw, nil)
        case .makeDictionary(let data, let raw):
            guard
                let id = try sql.row(
                    "INSERT INTO payload_dictionary (project_id, data) VALUES (\(projectID), \(ByteBuffer(bytes: data))) RETURNING id"
                )?.decode(Int64.self)
            else {
                throw DomainError(.unavailable, "the payload dictionary was not stored")
            }
            batch.cache(PayloadDictionary(id: id, payload: raw), projectID: projectID, hash: event.hashes[0])
            return (EventPayloadCodec.reference(to: id), true, id)
        }
    }
}
