import Foundation
import GRDB
import SpyglassCore
import SpyglassStorageKit
import SpyglassProtocol

/// Stores one event with its issue bookkeeping, inside the writer's transaction.
///
/// The event joins the issue of any of its hashes (missing hashes are attached to it), else a new issue
/// is created with the next short id of the project. Then, in the same transaction: first/last seen
/// (a late event moves first seen back), times seen, distinct users, level, tag values, hourly counts,
/// lifecycle changes (regression, unignore) and the alert rules they fire (outbox rows).
enum EventRows {
    /// Returns false when the project already has an event with this id (nothing is written).
    static func insert(
        _ event: NormalizedEvent, payload plan: PayloadPlan, projectID: Int64, batch: WriterBatch, in db: Database
    ) throws -> Bool {
        let timestamp = event.timestamp.timeIntervalSince1970
        let lookup = try WriterStatement("SELECT issue_id, dictionary_id FROM grouping_hash WHERE project_id = ? AND hash = ?", in: db)
        var known: Int64?
        var primaryDictionary: Int64?
        var missing: [String] = []
        for (index, hash) in event.hashes.enumerated() {
            if let (issue, dictionary) = try lookup.fetchOne(projectID, hash, read: { ($0.int64(0), $0.int64Optional(1)) }) {
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
            try WriterStatement("SELECT 1 FROM event WHERE project_id = ? AND event_id = ?", in: db).fetchInt64(projectID, event.eventID) != nil
        {
            return false
        }
        let issueID = try known ?? createIssue(for: event, projectID: projectID, in: db)
        let payload = try storedPayload(settled, event: event, projectID: projectID, batch: batch, in: db)
        try WriterStatement(
            """
            INSERT INTO event (project_id, event_id, timestamp, received, level, platform, release, environment,
                payload, payload_raw, sent_at, client_ip, issue_id, primary_hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (project_id, event_id) DO NOTHING
            """, in: db
        ).execute(
            projectID, event.eventID, timestamp, event.received.timeIntervalSince1970, event.level, event.platform,
            event.release, event.environment, BlobBinding(bytes: payload.blob), payload.raw,
            event.sentAt?.timeIntervalSince1970, event.clientIP, issueID, event.hashes.first)
        if db.changesCount == 0 { return false }
        let rowID = db.lastInsertedRowID
        let attach = try WriterStatement(
            "INSERT OR IGNORE INTO grouping_hash (project_id, hash, config, issue_id, dictionary_id) VALUES (?, ?, ?, ?, ?)",
            in: db)
        for hash in missing {
            try attach.execute(projectID, hash, Grouping.config, issueID, hash == event.hashes.first ? payload.dictionary : nil)
        }
        if let dictionary = payload.dictionary, !missing.contains(event.hashes[0]) {
            // A hash stored before dictionaries existed gets its own now.
            try WriterStatement(
                "UPDATE grouping_hash SET dictionary_id = ? WHERE project_id = ? AND hash = ? AND dictionary_id IS NULL", in: db
            ).execute(dictionary, projectID, event.hashes[0])
        }
        let releaseID = try batch.recordRelease(event, projectID: projectID, in: db)

        var newUser = 0
        if let userKey = event.userKey {
            // A known user's row first (the usual case), then a new one: `INSERT … ON CONFLICT DO UPDATE … RETURNING`
            // cost four times as much (docs/performance.md, "Bodies inflated at once"). A new row's times_seen is 1.
            try WriterStatement(
                """
                UPDATE issue_user SET times_seen = times_seen + 1, last_seen = max(coalesce(last_seen, 0), ?)
                WHERE issue_id = ? AND user_key = ?
                """, in: db
            ).execute(timestamp, issueID, userKey)
            if db.changesCount == 0 {
                let user = event.user
                try WriterStatement(
                    """
                    INSERT INTO issue_user (issue_id, user_key, last_seen, user_id, email, username, ip_address,
                        times_seen)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 1)
                    """, in: db
                ).execute(issueID, userKey, timestamp, user?.id, user?.email, user?.username, user?.ipAddress)
                newUser = 1
            }
        }
        // Two statements: SQLite rewrites the entries of every index on a column an UPDATE assigns, changed or not,
        // and first seen moves only for a late event: most events leave `issue(project_id, first_seen)` alone.
        try WriterStatement(
            """
            UPDATE issue SET times_seen = times_seen + 1, user_count = user_count + ?,
                last_event_id = CASE WHEN last_event_id IS NULL OR ? >= last_seen THEN ? ELSE last_event_id END,
                level = CASE WHEN ? >= last_seen THEN ? ELSE level END,
                last_release = CASE WHEN ? >= last_seen AND ? IS NOT NULL THEN ? ELSE last_release END,
                last_seen = max(last_seen, ?)
            WHERE id = ?
            """, in: db
        ).execute(
            Int64(newUser), timestamp, rowID, timestamp, event.level, timestamp, event.release, event.release, timestamp,
            issueID)
        try WriterStatement(
            """
            UPDATE issue SET first_event_id = ?, first_seen = min(first_seen, ?)
            WHERE id = ? AND (first_event_id IS NULL OR ? < first_seen)
            """, in: db
        ).execute(rowID, timestamp, issueID, timestamp)
        let tagStatement = try WriterStatement(
            """
            INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (?, ?, ?, 1, ?, ?)
            ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = times_seen + 1,
                first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)
            """, in: db)
        for tag in event.tags {
            try tagStatement.execute(issueID, tag.key, tag.value, timestamp, timestamp)
        }
        try WriterStatement(
            """
            INSERT INTO issue_hour (issue_id, hour, count) VALUES (?, ?, 1)
            ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + 1
            """, in: db
        ).execute(issueID, Int64((timestamp / 3600).rounded(.down)))
        var transitions: Set<AlertTrigger> = []
        if known == nil {
            try LifecycleRows.issueCreated(issueID, releaseID: releaseID, event: event, in: db)
            transitions.insert(.newIssue)
        } else if let transition = try LifecycleRows.eventJoined(issueID, eventRowID: rowID, event: event, projectID: projectID, in: db) {
            transitions.insert(transition)
        }
        try AlertRows.evaluate(event, issueID: issueID, transitions: transitions, projectID: projectID, batch: batch, in: db)
        return true
    }

    private static func createIssue(for event: NormalizedEvent, projectID: Int64, in db: Database) throws -> Int64 {
        // An UPDATE, then a read of the row it wrote: `UPDATE … RETURNING` cost several times as much here.
        try WriterStatement("UPDATE project SET next_short_id = next_short_id + 1 WHERE id = ?", in: db)
            .execute(projectID)
        guard db.changesCount == 1,
            let shortID = try WriterStatement("SELECT next_short_id - 1 FROM project WHERE id = ?", in: db)
                .fetchInt64(projectID)
        else {
            throw DomainError(.notFound, "project \(projectID) no longer exists")
        }
        let timestamp = event.timestamp.timeIntervalSince1970
        let summary = event.summary
        try db.cachedStatement(
            sql: """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, substatus,
                    first_seen, last_seen, times_seen, user_count, first_release, last_release, substatus_since)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'unresolved', 'new', ?, ?, 0, 0, ?, ?, ?)
                """
        ).execute(arguments: [
            projectID, shortID, summary.title, summary.culprit, summary.type,
            String(decoding: JSONWriter.bytes(summary.metadata), as: UTF8.self), event.level, timestamp, timestamp,
            event.release, event.release, timestamp,
        ])
        let issueID = db.lastInsertedRowID
        try db.cachedStatement(sql: "INSERT INTO issue_search (rowid, title, culprit, message) VALUES (?, ?, ?, ?)")
            .execute(arguments: [issueID, summary.title, summary.culprit, summary.message])
        return issueID
    }
}
