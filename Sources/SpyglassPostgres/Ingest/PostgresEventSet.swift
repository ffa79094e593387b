import Foundation
import NIOCore
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// The batch's events written as sets: a statement per table for many events, where ``PostgresEventRows`` spends
/// a few statements per event. A statement costs a round trip and its parsing whatever it carries, so statements
/// per batch, not rows, bound PostgreSQL's ingest (measurements: docs/performance.md).
///
/// The committer walks the batch in order. An event that only adds to issues (an unresolved known issue, or a new
/// one with all its hashes new) joins the current *set*; anything else (side items, a hash that must join an
/// existing issue, a resolved or ignored issue, a stored hash without a dictionary, alert rules that count every
/// event) first writes the set, then goes through ``PostgresEventRows`` alone. So the tables end as if the events
/// had been stored one by one, in order:
///
/// - the statement that writes the set draws the ids of the rows it creates (issues, dictionaries, events) from
///   the tables' identity sequences, in the order the rows are created, and the rows name each other by
///   placeholders until then (``Identities``); it takes each project's next short ids under the project row's lock
///   (the new issues' outbox rows get their ids and short ids filled in by that statement);
/// - an issue's counters move once per set: times seen and new users summed, first seen and last seen with the
///   events that the one-by-one order would have left there (the first event at the earliest time; the last at
///   the latest, its level and the release of the latest event that has one);
/// - events of an issue that is resolved or ignored when the batch begins go one by one (which event regresses
///   it or ends the ignoring is decided per event); one that the API resolves or ignores meanwhile runs the
///   lifecycle once, with its first event of the set;
/// - alert rules run per event that changed an issue's state (new issue, regression, escalation), in order.
///
/// Statements per set: one for everything the set writes: the new issues with their hashes, dictionaries, search
/// rows and activity, their alert rules' outbox rows, the events, every issue's counters, users, tag and hourly
/// counts, and the releases' times and new issues. When it is the batch's only write it commits by itself, without
/// `BEGIN` and `COMMIT` (``write(_:batch:in:last:)``): a batch of plain events costs its first read and that.
///
/// Duplicates are found before anything is written (one query for the batch). What another writer did between
/// that read and the set's statement (stored one of its event ids or a new issue's hash, took the project's next
/// short ids, deleted an issue) fails the statement whole (``PostgresIngestCommitter/writerCheckFailed``), and the
/// batch is read and tried again.
final class PostgresEventSet {
    /// A grouping hash of a project.
    struct HashKey: Hashable {
        var projectID: Int64
        var hash: String
    }

    /// An event id of a project.
    struct EventKey: Hashable {
        var projectID: Int64
        var eventID: String
    }

    /// The issue a hash belongs to: stored, or new in the set being built (an index of ``newIssues``).
    enum IssueRef: Hashable {
        case stored(Int64)
        case new(Int)
    }

    /// A primary hash's payload dictionary: stored (or none yet), or made by an event of the set (an index of
    /// ``newDictionaries``).
    enum DictionaryRef {
        case stored(Int64?)
        case new(Int)
    }

    /// What the batch knows of a hash: read before the batch, or written in it.
    struct HashTarget {
        var issue: IssueRef
        var dictionary: DictionaryRef
    }

    /// An event of the set.
    struct Member {
        var job: Int
        var event: NormalizedEvent
        var projectID: Int64
        var plan: PayloadPlan
        var issue: IssueRef
        /// The new dictionary this event makes (an index of ``newDictionaries``) and its settled payload.
        var makes: (index: Int, data: [UInt8], raw: [UInt8])?
    }

    /// The batch's hashes and event ids as read before it and written in it.
    private var hashes: [HashKey: HashTarget] = [:]
    private var storedEvents: Set<EventKey> = []
    /// Stored issues that were resolved or ignored when the batch began: their events go one by one (the lifecycle
    /// decides per event which one regresses or ends the ignoring).
    private var settledIssues: Set<Int64> = []
    /// The set being built.
    private(set) var members: [Member] = []
    private var newIssues: [(projectID: Int64, member: Int, hashes: [String])] = []
    private var newDictionaries: [(projectID: Int64, hash: String)] = []
    /// The stored releases the batch's events name, as its first read found them (for each set's releases that the
    /// batch has not written yet: ``write(_:batch:in:last:)``).
    private var storedReleases: [ReleaseName: Int64] = [:]

    /// A release of a project, by its version.
    struct ReleaseName: Hashable {
        var projectID: Int64
        var version: String
    }

    /// Reads what the batch's events need to be placed, in two statements: the stored grouping hashes among them,
    /// the stored releases they name, and the enabled alert rules, names and members' addresses of their projects
    /// (given to `batch`, which reads them no more), prepared; and the stored event ids among them.
    ///
    /// `lookUpEventIDs` false skips the stored event ids' statement: the set's check then fails on an event stored
    /// already as it does on another writer's (``PostgresIngestCommitter/commit(_:dictionaries:)`` tries the batch
    /// again with the lookup). Events written one by one find their duplicates themselves (``PostgresEventRows``).
    ///
    /// The event ids' statement is not prepared: planned for each batch, with its values. `event` has two indexes
    /// that begin with the project, and a plan made once, while the table was small and had no statistics, may take
    /// the one of timestamps and read every event of the project in every batch. The other tables each have one
    /// index a lookup can use. Planning the five parts together for each batch was a tenth of PostgreSQL's time
    /// in the benchmark's statements (docs/performance.md); a lookup alone plans in a fraction of that.
    init(_ jobs: [PreparedIngest], batch: PostgresWriterBatch, lookUpEventIDs: Bool = true, in sql: IngestSQL) throws {
        var hashProjects: [Int64] = []
        var hashTexts: [String] = []
        var eventProjects: [Int64] = []
        var eventIDs: [String] = []
        var releases: Set<ReleaseName> = []
        for job in jobs {
            guard let event = job.work.event else { continue }
            eventProjects.append(job.work.projectID)
            eventIDs.append(event.eventID)
            if let version = event.release {
                releases.insert(ReleaseName(projectID: job.work.projectID, version: version))
            }
            for hash in event.hashes {
                hashProjects.append(job.work.projectID)
                hashTexts.append(hash)
            }
        }
        guard !eventIDs.isEmpty else { return }
        // Kind 0: a hash (issue, dictionary, the issue's status); 2: a rule (id, spec, frequency, and its flags as
        // bits: new, regression, reappeared, counts events, counts users); 3: the project's slug and name, 4: an
        // active member's address and user id (for the outbox rows of alerts); 5: a release (version, id).
        let projects = Array(Set(eventProjects))
        let releaseNames = Array(releases)
        var rules: [Int64: [(id: Int64, spec: String?, frequency: Int64, flags: Int64)]] = [:]
        var names: [Int64: (slug: String, name: String)] = [:]
        var addresses: [Int64: [(user: Int64, email: String)]] = [:]
        for row in try !lookUpEventIDs ? [] : sql.rows(
            """
            SELECT e.project_id, e.event_id
            FROM event e JOIN unnest(\(eventProjects)::bigint[], \(eventIDs)::text[]) AS v(project_id, event_id)
                ON e.project_id = v.project_id AND e.event_id = v.event_id
            """, outsideTransaction: true
        ) {
            let (projectID, eventID) = try row.decode((Int64, String).self)
            storedEvents.insert(EventKey(projectID: projectID, eventID: eventID))
        }
        for row in try sql.prepared(
            """
            SELECT 0, g.project_id, g.hash, g.issue_id, g.dictionary_id, i.status, NULL::bigint
            FROM grouping_hash g JOIN unnest(\(hashProjects)::bigint[], \(hashTexts)::text[]) AS v(project_id, hash)
                ON g.project_id = v.project_id AND g.hash = v.hash
                JOIN issue i ON i.id = g.issue_id
            UNION ALL
            SELECT 2, r.project_id, r.spec, r.id, r.frequency_minutes, NULL,
                r.on_new + 2 * r.on_regression + 4 * r.on_reappeared + 8 * r.counts_events + 16 * r.counts_users
            FROM alert_rule r WHERE r.project_id = ANY(\(projects)::bigint[]) AND r.enabled = 1
            UNION ALL
            SELECT 3, p.id, p.slug, NULL, NULL, p.name, NULL FROM project p WHERE p.id = ANY(\(projects)::bigint[])
            UNION ALL
            SELECT 4, m.project_id, u.email, u.id, NULL, NULL, NULL
            FROM project_member m JOIN "user" u ON u.id = m.user_id
            WHERE m.project_id = ANY(\(projects)::bigint[]) AND u.is_active = 1
            UNION ALL
            SELECT 5, r.project_id, r.version, r.id, NULL, NULL, NULL
            FROM release r
                JOIN unnest(\(releaseNames.map(\.projectID))::bigint[], \(releaseNames.map(\.version))::text[])
                AS v(project_id, version) ON r.project_id = v.project_id AND r.version = v.version
            """, outsideTransaction: true
        ) {
            let (kind, projectID, text) = (try row.decode(0, as: Int32.self), try row.decode(1, as: Int64.self), try row.decode(2, as: String?.self))
            let (first, second) = (try row.decode(3, as: Int64?.self), try row.decode(4, as: Int64?.self))
            switch (kind, text, first) {
            case (0, let hash?, let issue?):
                hashes[HashKey(projectID: projectID, hash: hash)] = HashTarget(issue: .stored(issue), dictionary: .stored(second))
                if try row.decode(5, as: String?.self) != IssueStatus.unresolved.rawValue { settledIssues.insert(issue) }
            case (2, let spec, let id?):
                rules[projectID, default: []].append((id, spec, second ?? 0, try row.decode(6, as: Int64?.self) ?? 0))
            case (3, let slug?, _):
                names[projectID] = (slug, try row.decode(5, as: String.self))
            case (4, let email?, let user?):
                addresses[projectID, default: []].append((user, email))
            case (5, let version?, let id?):
                storedReleases[ReleaseName(projectID: projectID, version: version)] = id
            default:
                throw DomainError(.unavailable, "the database answered a row of unknown kind \(kind)")
            }
        }
        for projectID in projects {
            if let project = names[projectID] {
                batch.setProject(
                    projectID, slug: project.slug, name: project.name,
                    members: (addresses[projectID] ?? []).sorted { $0.user < $1.user }.map(\.email))
            }
            batch.setRules(
                (rules[projectID] ?? []).sorted { $0.id < $1.id }.compactMap { rule in
                    WriterAlertRule(
                        id: rule.id, spec: rule.spec, frequencyMinutes: rule.frequency, onNew: rule.flags & 1 != 0,
                        onRegression: rule.flags & 2 != 0, onReappeared: rule.flags & 4 != 0, countsEvents: rule.flags & 8 != 0,
                        countsUsers: rule.flags & 16 != 0)
                }, projectID: projectID)
        }
    }

    /// Where a job goes.
    enum Placement {
        /// Joined the set.
        case member
        /// Its event is stored already and it carries nothing else: nothing to write.
        case duplicate
        /// Through ``PostgresEventRows``, after the set is written.
        case alone
    }

    /// Adds job `index` to the set when it can be written there; `countsEveryEvent` says whether the project has
    /// rules that count every event (its events are evaluated one by one).
    func place(_ job: PreparedIngest, index: Int, countsEveryEvent: Bool) -> Placement {
        let work = job.work
        guard let event = work.event, let plan = job.payload, let primary = event.hashes.first else { return .alone }
        guard work.attachments.isEmpty, work.userReports.isEmpty, work.sessions.isEmpty, work.discarded.isEmpty,
            !countsEveryEvent
        else { return .alone }
        let eventKey = EventKey(projectID: work.projectID, eventID: event.eventID)
        if storedEvents.contains(eventKey) { return .duplicate }
        let targets = event.hashes.map { hashes[HashKey(projectID: work.projectID, hash: $0)] }
        var member = Member(job: index, event: event, projectID: work.projectID, plan: plan, issue: .new(newIssues.count))
        if let known = targets.first(where: { $0 != nil }) ?? nil {
            // Every hash must be known: attaching a new hash to a stored issue is PostgresEventRows' work.
            guard !targets.contains(where: { $0 == nil }) else { return .alone }
            if case .stored(nil) = targets[0]?.dictionary, case .makeDictionary = plan.settle(primaryDictionary: nil) {
                return .alone  // a hash stored before dictionaries: its first event makes one (and updates the hash)
            }
            if case .stored(let id) = known.issue, settledIssues.contains(id) { return .alone }
            member.issue = known.issue
        } else {
            var dictionary = DictionaryRef.stored(nil)
            if case .makeDictionary(let data, let raw) = plan.settle(primaryDictionary: nil) {
                member.makes = (newDictionaries.count, data, raw)
                dictionary = .new(newDictionaries.count)
                newDictionaries.append((work.projectID, primary))
            }
            newIssues.append((work.projectID, members.count, event.hashes))
            for (position, hash) in event.hashes.enumerated() {
                hashes[HashKey(projectID: work.projectID, hash: hash)] = HashTarget(
                    issue: member.issue, dictionary: position == 0 ? dictionary : .stored(nil))
            }
        }
        storedEvents.insert(eventKey)
        members.append(member)
        return .member
    }

    /// Records what ``PostgresEventRows`` stored for an event outside the set: its new hashes now belong to `issueID`,
    /// its primary hash has `dictionary` when it made one.
    func storedAlone(_ event: NormalizedEvent, projectID: Int64, issueID: Int64, dictionary: Int64?) {
        storedEvents.insert(EventKey(projectID: projectID, eventID: event.eventID))
        for (position, hash) in event.hashes.enumerated() {
            let key = HashKey(projectID: projectID, hash: hash)
            if hashes[key] == nil {
                hashes[key] = HashTarget(issue: .stored(issueID), dictionary: .stored(position == 0 ? dictionary : nil))
            } else if position == 0, let dictionary, case .stored(nil) = hashes[key]?.dictionary {
                hashes[key]?.dictionary = .stored(dictionary)
            }
        }
    }
}

extension PostgresEventSet {
    /// Writes the set (nothing when it is empty) and starts a new one; `receipts[job]` says whether each member's
    /// event was stored.
    ///
    /// `last`: nothing follows in the batch. Then, when nothing before began a transaction (``IngestSQL``), the set
    /// needs one statement, which commits by itself: what would have to follow it (a release the batch creates,
    /// alert rules that need counts) begins a transaction first, and what it finds changed meanwhile (an issue
    /// resolved or ignored, whose lifecycle would follow) fails it whole. The statement draws the ids of the rows
    /// it creates itself (``Identities``): until it has, the set names them by placeholders.
    func write(_ receipts: inout [IngestReceipt], batch: PostgresWriterBatch, in sql: IngestSQL, last: Bool) throws {
        guard !members.isEmpty else { return }
        defer {
            members = []
            newIssues = []
            newDictionaries = []
        }
        let events = members.map { ($0.event, $0.projectID) }
        let pendingReleases = batch.pendingReleases(events)
        let ids = Identities(
            issues: newIssues.map(\.projectID), dictionaries: newDictionaries.count, events: members.count)
        func issueID(_ ref: IssueRef) -> Int64 {
            switch ref {
            case .stored(let id): id
            case .new(let index): ids.issues[index]
            }
        }

        // Payloads settled against the dictionaries, as PostgresEventRows settles them. A new dictionary's first
        // event refers to it by id: the statement writes the id it draws into the reference (`fills`). The set's
        // other events of its hash are stored whole (`settle` gives them no id to refer to).
        var payloads: [ByteBuffer] = []
        var raws: [Int64] = []
        var fills: [Int64] = []
        for member in members {
            let primary = member.event.hashes[0]
            if let makes = member.makes {
                let placeholder = ids.dictionaries[makes.index]
                batch.cache(
                    PayloadDictionary(id: placeholder, payload: makes.raw), projectID: member.projectID, hash: primary)
                payloads.append(ByteBuffer(bytes: EventPayloadCodec.reference(to: 0)))
                raws.append(1)
                fills.append(placeholder)
                continue
            }
            var dictionary: Int64?
            switch hashes[HashKey(projectID: member.projectID, hash: primary)]?.dictionary {
            case .stored(let id)?: dictionary = id
            case .new(let index)?: dictionary = ids.dictionaries[index]
            case nil: break
            }
            let settled = member.plan.settle(primaryDictionary: dictionary)
            guard case .store = settled else {
                throw DomainError(.unavailable, "event \(member.event.eventID): its payload dictionary was not placed")
            }
            let stored = try PostgresEventRows.storedPayload(
                settled, event: member.event, projectID: member.projectID, batch: batch, in: sql)
            payloads.append(ByteBuffer(bytes: stored.blob))
            raws.append(stored.raw ? 1 : 0)
            fills.append(0)
        }
        // The set's releases that the batch has not written yet: those the batch's first read found are widened by
        // the statement, the others written now.
        var found: [Int: Int64] = [:]
        for (index, release) in pendingReleases.enumerated() {
            found[index] = storedReleases[ReleaseName(projectID: release.projectID, version: release.version)]
        }
        let (releases, widened) = try batch.recordReleases(events, pending: pendingReleases, found: found, in: sql)
        // A new issue's alert rules, unless they need counts, are evaluated before its rows are written (nothing the
        // rules read changes in between: its outbox rows tell the issue as its first event left it, as one by one),
        // and what fires is written in the events' statement.
        var created: [PostgresAlertRows.NewIssue] = []
        for (index, issue) in newIssues.enumerated() {
            let event = members[issue.member].event
            let timestamp = event.timestamp.timeIntervalSince1970
            let snapshot = PostgresAlertRows.IssueSnapshot(
                shortID: nil, title: event.summary.title, culprit: event.summary.culprit, level: event.level,
                status: IssueStatus.unresolved.rawValue, timesSeen: 1, userCount: event.userKey == nil ? 0 : 1,
                firstSeen: timestamp, lastSeen: timestamp)
            created.append(
                PostgresAlertRows.NewIssue(event: event, issueID: ids.issues[index], projectID: issue.projectID, issue: snapshot))
        }
        let alerts = try PostgresAlertRows.evaluateNew(created, batch: batch, in: sql)
        // What must follow the events' statement (alert rules that need counts, what the batch gathered before
        // this set) runs in a transaction with it.
        if !last || !alerts.needCounts.isEmpty || batch.hasUnwritten { try sql.begin() }
        // Every event of the set is counted as stored before it is written, so the counters ride in the events'
        // statement; an event id that another writer stored meanwhile fails the set (the batch is tried again and
        // finds it stored).
        for member in members {
            let timestamp = member.event.timestamp.timeIntervalSince1970
            for tag in member.event.tags { batch.countTag(tag, issueID: issueID(member.issue), timestamp: timestamp) }
            batch.countHour(Int64((timestamp / 3600).rounded(.down)), issueID: issueID(member.issue))
        }
        let counters = Counters(members, ids: ids, issueID: issueID)
        let written = try insertEvents(
            ids, payloads: payloads, raws: raws, fills: fills, issueID: issueID, releases: releases, widened: widened,
            alerts: alerts.writes, counters: counters, batch: batch, in: sql)
        let drawn = written.drawn
        for member in members { receipts[member.job] = IngestReceipt(eventStored: true) }
        // The hashes of the new issues and dictionaries now point at stored rows; the new dictionaries are cached
        // by their ids once the batch commits.
        for (index, issue) in newIssues.enumerated() {
            for hash in issue.hashes {
                let key = HashKey(projectID: issue.projectID, hash: hash)
                hashes[key]?.issue = .stored(drawn.issues[index])
                if case .new(let dictionary) = hashes[key]?.dictionary {
                    hashes[key]?.dictionary = .stored(drawn.dictionaries[dictionary])
                }
            }
        }
        for member in members {
            guard let makes = member.makes else { continue }
            batch.cache(
                PayloadDictionary(id: drawn.dictionaries[makes.index], payload: makes.raw), projectID: member.projectID,
                hash: member.event.hashes[0])
        }
        func storedIssueID(_ ref: IssueRef) -> Int64 {
            switch ref {
            case .stored(let id): id
            case .new(let index): drawn.issues[index]
            }
        }

        var transitions = [Set<AlertTrigger>](repeating: [], count: members.count)
        for issue in newIssues { transitions[issue.member].insert(.newIssue) }
        // An issue resolved or ignored since the batch began (by the API, meanwhile): the lifecycle runs once, with
        // its first event of the set.
        for (id, state) in written.states.sorted(by: { $0.key < $1.key }) where state.status != .unresolved {
            guard let position = written.firstMember[id] else { continue }
            let member = members[position]
            if let transition = try PostgresLifecycleRows.eventJoined(
                id, issue: state, eventRowID: drawn.events[position], event: member.event, projectID: member.projectID,
                batch: batch, in: sql)
            {
                transitions[position].insert(transition)
            }
        }
        // Alert rules of any other change, event by event (a new issue's were written with the events).
        for (position, member) in members.enumerated() where !transitions[position].isEmpty {
            if transitions[position] == [.newIssue], case .new = member.issue { continue }
            try PostgresAlertRows.evaluate(
                member.event, issueID: storedIssueID(member.issue), transitions: transitions[position],
                projectID: member.projectID, batch: batch, in: sql)
        }
        for new in alerts.needCounts {
            try PostgresAlertRows.evaluate(
                new.event, issueID: drawn.issue(new.issueID), transitions: [.newIssue], projectID: new.projectID,
                batch: batch, in: sql)
        }
    }

    /// The ids of the rows a set creates (issues, dictionaries, events) as the set names them before its statement
    /// draws them from the tables' identity sequences: the `n`th of a kind is `-n` (stored rows' ids are positive),
    /// and the statement maps each to the id it drew (``drawnID(_:_:)``, ``Drawn``). So a set costs one statement,
    /// and ids come out in the order the rows are created, as SQLite numbers them. Also each new issue's place among
    /// its project's new issues: the statement takes each project's next short ids under its row lock and gives
    /// them out in that order.
    struct Identities {
        var issues: [Int64]
        var dictionaries: [Int64]
        var events: [Int64]
        var shortIDOffsets: [Int64]
        /// The projects of new issues, in id order, with how many short ids each takes.
        var shortIDsTaken: (projects: [Int64], counts: [Int64])

        init(issues projects: [Int64], dictionaries: Int, events: Int) {
            func placeholders(_ count: Int) -> [Int64] { (0..<count).map { -Int64($0) - 1 } }
            issues = placeholders(projects.count)
            self.dictionaries = placeholders(dictionaries)
            self.events = placeholders(events)
            var counts: [Int64: Int64] = [:]
            shortIDOffsets = projects.map { project in
                defer { counts[project, default: 0] += 1 }
                return counts[project, default: 0]
            }
            let countedProjects = counts.keys.sorted()
            shortIDsTaken = (countedProjects, countedProjects.map { counts[$0, default: 0] })
        }

        /// The statement's first parts: the identity sequences, looked up once (in each row, `pg_get_serial_sequence`
        /// cost more than the `nextval`), and `drawn`, the ids for the placeholders, in their order.
        var drawing: IngestStatement {
            """
            sequences AS MATERIALIZED (
                SELECT pg_get_serial_sequence('issue', 'id')::regclass AS issue,
                    pg_get_serial_sequence('payload_dictionary', 'id')::regclass AS dictionary,
                    pg_get_serial_sequence('event', 'id')::regclass AS event
            ), drawn AS MATERIALIZED (
                SELECT
                    ARRAY(SELECT nextval(s.issue) FROM sequences s, generate_series(1, \(Int64(issues.count))::bigint))
                        AS issues,
                    ARRAY(SELECT nextval(s.dictionary)
                        FROM sequences s, generate_series(1, \(Int64(dictionaries.count))::bigint)) AS dictionaries,
                    ARRAY(SELECT nextval(s.event) FROM sequences s, generate_series(1, \(Int64(events.count))::bigint))
                        AS events
            ),
            """
        }
    }

    /// The ids a set's statement drew, in the order of their placeholders (``Identities``).
    struct Drawn {
        var issues: [Int64]
        var dictionaries: [Int64]
        var events: [Int64]

        /// The issue id for `id`: drawn for a placeholder, else `id` itself.
        func issue(_ id: Int64) -> Int64 { id < 0 ? issues[Int(-id) - 1] : id }
    }

    /// SQL for the id that `column` names: the one drawn for a placeholder (a statement's `drawn`, joined as `d`),
    /// else the stored id it holds. `kind`: `issues`, `dictionaries` or `events`.
    static func drawnID(_ column: String, _ kind: String) -> String {
        "CASE WHEN \(column) < 0 THEN d.\(kind)[(-\(column))::int] ELSE \(column) END"
    }

    /// The new issues, with their short ids, search rows, their counters as the set's events leave them
    /// (``Counters``), their hashes, the payload dictionaries their first events made (each its primary hash's),
    /// their counts per release and environment and their "first seen" activity
    /// (``PostgresLifecycleRows/issueCreated(_:releaseID:event:in:)`` for the set): common table expressions for
    /// ``insertEvents(_:payloads:raws:issueID:releases:alerts:counters:batch:in:)``; and the condition that says they
    /// were all written (every hash stored, every issue inserted).
    private func issueRows(_ ids: Identities, counters: Counters) -> (rows: IngestStatement, check: IngestStatement) {
        let events = newIssues.map { members[$0.member].event }
        let releases = Nullable(events.map(\.release), placeholder: "")
        // What the set's events leave in a new issue's counters (as ``Counters/rows(_:)`` leaves a stored one's).
        let tallies = ids.issues.map { counters.tallies[$0] ?? Tally() }
        let lastReleases = Nullable(tallies.map(\.release), placeholder: "")
        let dictionaryData = members.compactMap { $0.makes.map { ByteBuffer(bytes: $0.data) } }
        var hashProjects: [Int64] = []
        var hashTexts: [String] = []
        var hashIssues: [Int64] = []
        var hashDictionaries: [Int64?] = []
        for (index, issue) in newIssues.enumerated() {
            let made = members[issue.member].makes.map { ids.dictionaries[$0.index] }
            for (position, hash) in issue.hashes.enumerated() {
                hashProjects.append(issue.projectID)
                hashTexts.append(hash)
                hashIssues.append(ids.issues[index])
                hashDictionaries.append(position == 0 ? made : nil)
            }
        }
        let dictionary = Nullable(hashDictionaries, placeholder: 0)
        let activityData = events.map { JSONWriter.string(["release": $0.release.map(JSONValue.string) ?? .null]) }
        let taken = ids.shortIDsTaken
        let rows: IngestStatement = """
            taken AS (
                UPDATE project SET next_short_id = project.next_short_id + v.n
                FROM unnest(\(taken.projects)::bigint[], \(taken.counts)::bigint[]) AS v(id, n)
                WHERE project.id = v.id
                RETURNING project.id, project.next_short_id - v.n AS first
            ), issues AS (
                INSERT INTO issue (id, project_id, short_id, title, culprit, type, metadata, level, status, substatus,
                    first_seen, last_seen, times_seen, user_count, first_release, last_release, substatus_since,
                    first_event_id, last_event_id)
                SELECT \(unescaped: Self.drawnID("v.id", "issues")), v.project_id, t.first + v.short_offset, v.title,
                    v.culprit, v.type, v.metadata, v.level, 'unresolved', 'new',
                    v.first_seen, v.last_seen, v.times_seen, v.user_count, CASE WHEN v.has_release THEN v.release END,
                    CASE WHEN v.has_last_release THEN v.last_release END, v.ts,
                    \(unescaped: Self.drawnID("v.first_event", "events")),
                    \(unescaped: Self.drawnID("v.last_event", "events"))
                FROM unnest(\(ids.issues)::bigint[], \(newIssues.map(\.projectID))::bigint[], \(ids.shortIDOffsets)::bigint[],
                    \(events.map(\.summary.title))::text[], \(events.map(\.summary.culprit))::text[], \(events.map(\.summary.type))::text[],
                    \(events.map { String(decoding: JSONWriter.bytes($0.summary.metadata), as: UTF8.self) })::text[],
                    \(tallies.map(\.maxLevel))::text[], \(events.map { $0.timestamp.timeIntervalSince1970 })::float8[],
                    \(releases.values)::text[], \(releases.present)::boolean[], \(tallies.map(\.minTimestamp))::float8[],
                    \(tallies.map(\.maxTimestamp))::float8[], \(tallies.map(\.count))::bigint[],
                    \(ids.issues.map { counters.users[$0, default: 0] })::bigint[], \(lastReleases.values)::text[],
                    \(lastReleases.present)::boolean[], \(tallies.map(\.minRow))::bigint[], \(tallies.map(\.maxRow))::bigint[])
                    AS v(id, project_id, short_offset, title, culprit, type, metadata, level, ts, release, has_release,
                        first_seen, last_seen, times_seen, user_count, last_release, has_last_release, first_event, last_event)
                    JOIN taken t ON t.id = v.project_id CROSS JOIN drawn d
                RETURNING id, short_id
            ), dictionaries AS (
                INSERT INTO payload_dictionary (id, project_id, data)
                SELECT \(unescaped: Self.drawnID("v.id", "dictionaries")), v.project_id, v.data
                FROM unnest(\(ids.dictionaries)::bigint[], \(newDictionaries.map(\.projectID))::bigint[],
                    \(dictionaryData)::bytea[]) AS v(id, project_id, data), drawn d
                RETURNING 1
            ), hashes AS (
                INSERT INTO grouping_hash (project_id, hash, config, issue_id, dictionary_id)
                SELECT v.project_id, v.hash, \(Grouping.config), \(unescaped: Self.drawnID("v.issue_id", "issues")),
                    CASE WHEN v.has_dictionary THEN \(unescaped: Self.drawnID("v.dictionary", "dictionaries")) END
                FROM unnest(\(hashProjects)::bigint[], \(hashTexts)::text[], \(hashIssues)::bigint[], \(dictionary.values)::bigint[],
                    \(dictionary.present)::boolean[]) AS v(project_id, hash, issue_id, dictionary, has_dictionary),
                    drawn d
                ON CONFLICT DO NOTHING
                RETURNING 1
            ), activity AS (
                INSERT INTO issue_activity (issue_id, type, user_id, data, created_at)
                SELECT \(unescaped: Self.drawnID("v.id", "issues")), \(ActivityKind.firstSeen.rawValue), NULL, v.data,
                    v.created_at
                FROM unnest(\(ids.issues)::bigint[], \(activityData)::text[],
                    \(events.map { $0.received.timeIntervalSince1970 })::float8[]) AS v(id, data, created_at), drawn d
                RETURNING 1
            ), search AS (
                INSERT INTO issue_search (issue_id, title, culprit, message)
                SELECT \(unescaped: Self.drawnID("v.id", "issues")), v.title, v.culprit, v.message
                FROM unnest(\(ids.issues)::bigint[], \(events.map(\.summary.title))::text[],
                    \(events.map(\.summary.culprit))::text[], \(events.map(\.summary.message))::text[])
                    AS v(id, title, culprit, message), drawn d
                RETURNING 1
            )
            """
        let hashes = Set(zip(hashProjects, hashTexts).map { HashKey(projectID: $0, hash: $1) }).count
        return (
            rows,
            """
            (SELECT count(*) FROM hashes) = \(Int64(hashes))
                AND (SELECT count(*) FROM issues) = \(Int64(newIssues.count))
            """
        )
    }

    /// Inserts the set's events with the counters of the issues they join (``Counters``), the new issues' rows
    /// (``issueRows(_:releases:counters:)``) and `alerts` (their rules' outbox and throttle rows), in one statement
    /// (every data-modifying part runs). Returns each stored issue as the events left it, its first event in the
    /// set, and the ids the statement drew (``Identities``). `fills`: for each event, the placeholder of the new
    /// dictionary whose id its payload refers to (its bytes 1–8, little-endian), or 0. The statement fails whole
    /// (``PostgresIngestCommitter/writerCheckFailed``, and the batch is tried again) when another writer changed what
    /// it relies on meanwhile.
    private func insertEvents(
        _ ids: Identities, payloads: [ByteBuffer], raws: [Int64], fills: [Int64], issueID: (IssueRef) -> Int64,
        releases memberReleases: [Int64?], widened: [PostgresWriterBatch.ReleaseWidening], alerts: IngestStatement?,
        counters: Counters, batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws -> (states: [Int64: PostgresLifecycleRows.JoinedIssue], firstMember: [Int64: Int], drawn: Drawn) {
        let events = members.map(\.event)
        let releases = Nullable(events.map(\.release), placeholder: "")
        let environments = Nullable(events.map(\.environment), placeholder: "")
        let sentAt = Nullable(events.map { $0.sentAt?.timeIntervalSince1970 }, placeholder: 0)
        let clientIPs = Nullable(events.map(\.clientIP), placeholder: "")
        let insert: IngestStatement = """
            INSERT INTO event (id, project_id, event_id, timestamp, received, level, platform, release, environment,
                payload, payload_raw, sent_at, client_ip, issue_id, primary_hash)
            SELECT \(unescaped: Self.drawnID("v.id", "events")), v.project_id, v.event_id, v.timestamp, v.received,
                v.level, v.platform, CASE WHEN v.has_release THEN v.release END,
                CASE WHEN v.has_environment THEN v.environment END,
                CASE WHEN v.fill < 0 THEN \(unescaped: Self.dictionaryReference) ELSE v.payload END, v.payload_raw,
                CASE WHEN v.has_sent_at THEN v.sent_at END, CASE WHEN v.has_client_ip THEN v.client_ip END,
                \(unescaped: Self.drawnID("v.issue_id", "issues")), v.primary_hash
            FROM unnest(\(ids.events)::bigint[], \(members.map(\.projectID))::bigint[], \(events.map(\.eventID))::text[],
                \(events.map { $0.timestamp.timeIntervalSince1970 })::float8[],
                \(events.map { $0.received.timeIntervalSince1970 })::float8[], \(events.map(\.level))::text[],
                \(events.map(\.platform))::text[], \(releases.values)::text[], \(releases.present)::boolean[],
                \(environments.values)::text[], \(environments.present)::boolean[], \(payloads)::bytea[], \(raws)::bigint[],
                \(sentAt.values)::float8[], \(sentAt.present)::boolean[], \(clientIPs.values)::text[],
                \(clientIPs.present)::boolean[], \(members.map { issueID($0.issue) })::bigint[],
                \(events.map { $0.hashes[0] })::text[], \(fills)::bigint[])
                AS v(id, project_id, event_id, timestamp, received, level, platform, release, has_release, environment,
                    has_environment, payload, payload_raw, sent_at, has_sent_at, client_ip, has_client_ip, issue_id,
                    primary_hash, fill), drawn d
            ON CONFLICT (project_id, event_id) DO NOTHING
            RETURNING id
            """
        var issueRows: IngestStatement = ""
        var issueCheck: IngestStatement = "true"
        if !newIssues.isEmpty {
            let issues = self.issueRows(ids, counters: counters)
            issueRows = "\(embedding: issues.rows), "
            issueCheck = issues.check
        }
        let alertRows: IngestStatement = alerts.map { "\(embedding: $0), " } ?? ""
        let releaseRows = self.releaseRows(widened, memberReleases: memberReleases)
        // Outside a transaction the statement commits by itself: an issue that is no longer unresolved (the API
        // resolved or ignored it meanwhile: its lifecycle would have to follow) fails it too.
        let alone = !sql.inTransaction
        // Two nodes writing the same projects' rows in one statement each would lock them in no set order (the
        // parts run as the query reads them) and could deadlock; they take the projects' locks first, in id order
        // (``ingestLockSpace``): the query reads `locked` before any part that writes.
        let projects = Set(members.map(\.projectID)).sorted()
        let rows = try sql.prepared(
            """
            WITH locked AS MATERIALIZED (
                SELECT count(pg_advisory_xact_lock(\(Self.ingestLockSpace), (p % 2147483647)::int)) AS n
                FROM unnest(\(projects)::bigint[]) AS p
            ), \(embedding: ids.drawing)\(embedding: issueRows)\(embedding: alertRows)\(embedding: releaseRows.rows)
                events AS (\(embedding: insert)),
                \(embedding: counters.rows(batch.takeCounts()))
            SELECT NULL::bigint, spyglass_writer_check(
                    (SELECT count(*) FROM events) = \(Int64(members.count)) AND \(embedding: issueCheck)
                    AND (SELECT count(*) FROM counted) = \(Int64(counters.storedIssues.count))
                    AND (SELECT count(*) FROM release_rows) = \(Int64(releaseRows.releases))
                    AND (NOT \(alone) OR NOT EXISTS (SELECT 1 FROM counted WHERE status <> 'unresolved'))),
                NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, d.issues, d.dictionaries, d.events
            FROM locked, drawn d
            UNION ALL
            SELECT id, times_seen, user_count, status, resolution, resolution_release, ignore_state, NULL::bigint[],
                NULL::bigint[], NULL::bigint[]
            FROM counted
            """, outsideTransaction: alone)
        // spyglass_writer_check failed the statement (SQLSTATE SG001: the batch is tried again) when another writer
        // stored an event id of the set or a hash of a new issue meanwhile (an insert that waited for the other's
        // commit, then did nothing: the set counted it, or a new issue would have no hash and the other's issue
        // would split), or deleted an issue the set joins or a project.
        var states: [Int64: PostgresLifecycleRows.JoinedIssue] = [:]
        var drawn: Drawn?
        for row in rows {
            guard let id = try row.decode(0, as: Int64?.self) else {
                drawn = Drawn(
                    issues: try row.decode(7, as: [Int64].self), dictionaries: try row.decode(8, as: [Int64].self),
                    events: try row.decode(9, as: [Int64].self))
                continue
            }
            let (timesSeen, userCount, status) = (
                try row.decode(1, as: Int64.self), try row.decode(2, as: Int64.self), try row.decode(3, as: String.self))
            let (resolution, resolutionRelease, ignoreState) = (
                try row.decode(4, as: String?.self), try row.decode(5, as: String?.self), try row.decode(6, as: String?.self))
            states[id] = PostgresLifecycleRows.JoinedIssue(
                status: IssueStatus(rawValue: status), resolution: resolution, resolutionRelease: resolutionRelease,
                ignoreState: ignoreState, timesSeen: Int(timesSeen), userCount: Int(userCount))
        }
        guard let drawn, drawn.issues.count == ids.issues.count, drawn.dictionaries.count == ids.dictionaries.count,
            drawn.events.count == ids.events.count
        else { throw DomainError(.unavailable, "the database drew the wrong number of ids for the batch") }
        return (states, counters.firstMember, drawn)
    }

    /// SQL for an event's payload (`v.payload`) with the id its statement drew for the placeholder `v.fill` written
    /// into bytes 1–8, little-endian (``EventPayloadCodec/reference(to:)``).
    static let dictionaryReference: String = {
        var expression = "v.payload"
        for index in 0..<8 {
            let byte = "((d.dictionaries[(-v.fill)::int] >> \(8 * index)) & 255)::int"
            expression = "set_byte(\(expression), \(index + 1), \(byte))"
        }
        return expression
    }()

    /// The set's writes to its releases and their environments, as common table expressions (`release_rows`,
    /// `environment_rows`, `environment_counts`, each followed by a comma), and how many releases they update: the
    /// first and last event times of the stored releases the batch had not written yet (`widened`, with their
    /// environments, created or widened), and the new issues counted per release and environment (where their first
    /// events name one).
    private func releaseRows(
        _ widened: [PostgresWriterBatch.ReleaseWidening], memberReleases: [Int64?]
    ) -> (rows: IngestStatement, releases: Int) {
        var perRelease: [Int64: Int64] = [:]
        var perEnvironment: [ReleaseEnvironment: Int64] = [:]
        for issue in newIssues {
            guard let release = memberReleases[issue.member] else { continue }
            perRelease[release, default: 0] += 1
            if let environment = members[issue.member].event.environment {
                perEnvironment[ReleaseEnvironment(releaseID: release, environment: environment), default: 0] += 1
            }
        }
        // One row per release (an UPDATE may not change a row twice): widened, counted, or both.
        var spans: [Int64: ClosedRange<Double>] = [:]
        var environmentSpans: [ReleaseEnvironment: ClosedRange<Double>] = [:]
        for release in widened {
            spans[release.id] = release.seen
            for environment in release.environments {
                let key = ReleaseEnvironment(releaseID: release.id, environment: environment.name)
                environmentSpans[key] = environment.seen
            }
        }
        let releaseIDs = Set(spans.keys).union(perRelease.keys).sorted()
        let releaseSpans = releaseIDs.map { spans[$0] }
        // Environments widened (created when missing) with their new issues, and those only counted (written before).
        func inOrder(_ lhs: ReleaseEnvironment, _ rhs: ReleaseEnvironment) -> Bool {
            (lhs.releaseID, lhs.environment) < (rhs.releaseID, rhs.environment)
        }
        let widenedEnvironments = environmentSpans.keys.sorted(by: inOrder)
        let countedEnvironments = perEnvironment.keys.filter { environmentSpans[$0] == nil }.sorted(by: inOrder)
        let rows: IngestStatement = """
            release_rows AS (
                UPDATE release SET
                    first_event = CASE WHEN v.widen THEN LEAST(coalesce(release.first_event, v.first), v.first)
                        ELSE release.first_event END,
                    last_event = CASE WHEN v.widen THEN GREATEST(coalesce(release.last_event, v.last), v.last)
                        ELSE release.last_event END,
                    new_issues = release.new_issues + v.n
                FROM unnest(\(releaseIDs)::bigint[], \(releaseSpans.map { $0?.lowerBound ?? 0 })::float8[],
                    \(releaseSpans.map { $0?.upperBound ?? 0 })::float8[], \(releaseSpans.map { $0 != nil })::boolean[],
                    \(releaseIDs.map { perRelease[$0, default: 0] })::bigint[]) AS v(id, first, last, widen, n)
                WHERE release.id = v.id
                RETURNING 1
            ), environment_rows AS (
                INSERT INTO release_environment (release_id, environment, first_seen, last_seen, new_issues)
                SELECT * FROM unnest(\(widenedEnvironments.map(\.releaseID))::bigint[],
                    \(widenedEnvironments.map(\.environment))::text[],
                    \(widenedEnvironments.map { environmentSpans[$0]?.lowerBound ?? 0 })::float8[],
                    \(widenedEnvironments.map { environmentSpans[$0]?.upperBound ?? 0 })::float8[],
                    \(widenedEnvironments.map { perEnvironment[$0, default: 0] })::bigint[])
                ON CONFLICT (release_id, environment) DO UPDATE SET
                    first_seen = LEAST(release_environment.first_seen, excluded.first_seen),
                    last_seen = GREATEST(release_environment.last_seen, excluded.last_seen),
                    new_issues = release_environment.new_issues + excluded.new_issues
                RETURNING 1
            ), environment_counts AS (
                UPDATE release_environment SET new_issues = release_environment.new_issues + v.n
                FROM unnest(\(countedEnvironments.map(\.releaseID))::bigint[],
                    \(countedEnvironments.map(\.environment))::text[],
                    \(countedEnvironments.map { perEnvironment[$0, default: 0] })::bigint[])
                    AS v(release_id, environment, n)
                WHERE release_environment.release_id = v.release_id AND release_environment.environment = v.environment
                RETURNING 1
            ),
            """
        return (rows, releaseIDs.count)
    }

    /// The first key of the transaction-level advisory locks that order the writers' statements per project (the
    /// second is the project's id): "SPLW". The two-key space is apart from the one-key locks of migrations.
    static let ingestLockSpace: Int32 = 0x5350_4C57

    /// The counters of the issues a set's events join, summed per issue (``Tally``), and the users the events bring:
    /// a stored issue's moved once by ``rows(_:)``, a new one's written with its row (``issueRows(_:releases:counters:)``).
    struct Counters {
        var tallies: [Int64: Tally] = [:]
        /// The stored issues the events join, in id order (two nodes lock them in the same order: no deadlock).
        var storedIssues: [Int64] = []
        /// Each issue's first event in the set (its position).
        var firstMember: [Int64: Int] = [:]
        /// Each issue's users in the set (a new issue's user count).
        var users: [Int64: Int64] = [:]
        private var userIssues: [Int64] = []
        private var userKeys: [String] = []
        private var userTimes: [Double] = []
        private var identities: [UserIdentity?] = []
        private var userCounts: [Int64] = []

        init(_ members: [Member], ids: Identities, issueID: (IssueRef) -> Int64) {
            var userIndex: [UserRef: Int] = [:]
            for (position, member) in members.enumerated() {
                let id = issueID(member.issue)
                if let key = member.event.userKey {
                    // One row per (issue, user): ON CONFLICT DO UPDATE may not touch a row twice in one statement.
                    let timestamp = member.event.timestamp.timeIntervalSince1970
                    if let index = userIndex[UserRef(issue: id, key: key)] {
                        userCounts[index] += 1
                        userTimes[index] = max(userTimes[index], timestamp)
                    } else {
                        userIndex[UserRef(issue: id, key: key)] = userKeys.count
                        userIssues.append(id)
                        userKeys.append(key)
                        userTimes.append(timestamp)
                        userCounts.append(1)
                        identities.append(member.event.user)
                        users[id, default: 0] += 1
                    }
                }
                if tallies[id] == nil {
                    if case .stored = member.issue { storedIssues.append(id) }
                    firstMember[id] = position
                }
                tallies[id, default: Tally()].add(member.event, row: ids.events[position])
            }
            storedIssues.sort()
        }

        /// SQL for the event id drawn for an event's placeholder in `column` (``Identities``).
        static func event(_ column: String) -> String { PostgresEventSet.drawnID(column, "events") }

        /// Common table expressions writing the tag and hourly counts (`counts`), every issue's users
        /// (`issue_user`) and the stored issues' counters; `counted` returns each stored issue as the events left it.
        func rows(_ counts: PostgresWriterBatch.Counts) -> IngestStatement {
            let tally = storedIssues.map { tallies[$0] ?? Tally() }
            let releases = Nullable(tally.map(\.release), placeholder: "")
            let userIDs = Nullable(identities.map { $0?.id }, placeholder: "")
            let emails = Nullable(identities.map { $0?.email }, placeholder: "")
            let usernames = Nullable(identities.map { $0?.username }, placeholder: "")
            let addresses = Nullable(identities.map { $0?.ipAddress }, placeholder: "")
            return """
                \(upserting: counts, drawn: true), users AS (
                    INSERT INTO issue_user (issue_id, user_key, last_seen, user_id, email, username, ip_address, times_seen)
                    SELECT \(unescaped: PostgresEventSet.drawnID("u.issue_id", "issues")), u.user_key, u.last_seen,
                        CASE WHEN u.has_id THEN u.user_id END,
                        CASE WHEN u.has_email THEN u.email END, CASE WHEN u.has_username THEN u.username END,
                        CASE WHEN u.has_ip THEN u.ip_address END, u.times_seen
                    FROM unnest(\(userIssues)::bigint[], \(userKeys)::text[], \(userTimes)::float8[],
                        \(userIDs.values)::text[], \(userIDs.present)::boolean[], \(emails.values)::text[], \(emails.present)::boolean[],
                        \(usernames.values)::text[], \(usernames.present)::boolean[], \(addresses.values)::text[],
                        \(addresses.present)::boolean[], \(userCounts)::bigint[])
                        AS u(issue_id, user_key, last_seen, user_id, has_id, email, has_email, username, has_username, ip_address,
                            has_ip, times_seen), drawn d
                    ON CONFLICT (issue_id, user_key) DO UPDATE SET times_seen = issue_user.times_seen + excluded.times_seen,
                        last_seen = GREATEST(coalesce(issue_user.last_seen, 0), excluded.last_seen)
                    RETURNING issue_id, (xmax = 0) AS inserted
                ), new_users AS (
                    -- xmax is 0 on the rows this statement inserted: the issue's new users.
                    SELECT issue_id, count(*) AS n FROM users WHERE inserted GROUP BY issue_id
                ), counted AS (
                    UPDATE issue SET times_seen = issue.times_seen + v.n, user_count = issue.user_count + coalesce(u.n, 0),
                        last_event_id = CASE WHEN v.max_ts >= issue.last_seen THEN \(unescaped: Self.event("v.max_row"))
                            WHEN issue.last_event_id IS NULL THEN \(unescaped: Self.event("v.first_row"))
                            ELSE issue.last_event_id END,
                        level = CASE WHEN v.max_ts >= issue.last_seen THEN v.max_level ELSE issue.level END,
                        last_release = CASE WHEN v.has_release AND v.release_ts >= issue.last_seen THEN v.release
                            ELSE issue.last_release END,
                        last_seen = GREATEST(issue.last_seen, v.max_ts),
                        first_event_id = CASE WHEN v.min_ts < issue.first_seen
                            THEN \(unescaped: Self.event("v.min_row"))
                            WHEN issue.first_event_id IS NULL THEN \(unescaped: Self.event("v.first_row"))
                            ELSE issue.first_event_id END,
                        first_seen = LEAST(issue.first_seen, v.min_ts)
                    FROM unnest(\(storedIssues)::bigint[], \(tally.map(\.count))::bigint[],
                        \(tally.map(\.firstRow))::bigint[], \(tally.map(\.minTimestamp))::float8[], \(tally.map(\.minRow))::bigint[],
                        \(tally.map(\.maxTimestamp))::float8[], \(tally.map(\.maxRow))::bigint[], \(tally.map(\.maxLevel))::text[],
                        \(releases.values)::text[], \(releases.present)::boolean[], \(tally.map(\.releaseTimestamp))::float8[])
                        AS v(id, n, first_row, min_ts, min_row, max_ts, max_row, max_level, release, has_release, release_ts)
                        LEFT JOIN new_users u ON u.issue_id = v.id CROSS JOIN drawn d
                    WHERE issue.id = v.id
                    RETURNING issue.id, issue.times_seen, issue.user_count, issue.status, issue.resolution,
                        issue.resolution_release, issue.ignore_state
                )
                """
        }
    }

    /// What the one-by-one order leaves in an issue's first/last columns, from its events of the set in order.
    ///
    /// Last event and level: the latest event, the last of equal ones (each event at or after the issue's last
    /// seen time takes them). Release: of the last event that has one and is at or after every earlier event of
    /// the set; it counts when it is also at or after the stored last seen time. First event: the first of the
    /// earliest (an event takes it only when strictly earlier); an issue without one takes the set's first event.
    struct Tally {
        var count: Int64 = 0
        var firstRow: Int64 = 0
        var minTimestamp = Double.infinity
        var minRow: Int64 = 0
        var maxTimestamp = -Double.infinity
        var maxRow: Int64 = 0
        var maxLevel = ""
        var release: String?
        var releaseTimestamp: Double = 0

        mutating func add(_ event: NormalizedEvent, row: Int64) {
            let timestamp = event.timestamp.timeIntervalSince1970
            if count == 0 { firstRow = row }
            count += 1
            if timestamp < minTimestamp {
                minTimestamp = timestamp
                minRow = row
            }
            if timestamp >= maxTimestamp {
                maxTimestamp = timestamp
                maxRow = row
                maxLevel = event.level
                if let version = event.release {
                    release = version
                    releaseTimestamp = timestamp
                }
            }
        }
    }

    private struct ReleaseEnvironment: Hashable {
        var releaseID: Int64
        var environment: String
    }
}

/// A column of optional values as two arrays (postgres-nio binds no NULL inside an array): the values, a
/// placeholder where there is none, and whether each is present (`CASE WHEN present THEN value END` in the SQL).
struct Nullable<Value> {
    var values: [Value]
    var present: [Bool]

    init(_ optionals: [Value?], placeholder: Value) {
        values = optionals.map { $0 ?? placeholder }
        present = optionals.map { $0 != nil }
    }
}

/// An affected user of one issue, the key of the per-batch tally.
private struct UserRef: Hashable {
    let issue: Int64
    let key: String
}
