import CZlib
import Foundation
import GRDB
import MetricsTestKit
import SpyglassCore
import SpyglassProtocol
import Testing

@testable import SpyglassStorage
import SpyglassStorageKit

@Suite struct PayloadDictionaryTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    /// A Python-like error event as sent: 20 frames with context lines, and `n` where events of the issue differ.
    func raw(_ id: String, n: Int, type: String = "KeyError") -> [UInt8] {
        let frames = (0..<20).map { index in
            #"{"filename":"app/handlers/module_\#(index).py","abs_path":"/srv/app/handlers/module_\#(index).py","#
                + #""function":"handle_step_\#(index)","module":"app.handlers.module_\#(index)","lineno":\#(100 + index),"#
                + #""context_line":"    result = process(request, step=\#(index))","pre_context":["def handle_step_\#(index)(request):","    # step \#(index)"],"#
                + #""post_context":["    return result",""],"in_app":true,"vars":{"request":"<Request \#(n)>","step":"\#(index)"}}"#
        }
        let json =
            #"{"event_id":"\#(id)","platform":"python","level":"error","extra":{"n":\#(n)},"#
            + #""exception":{"values":[{"type":"\#(type)","value":"'order_\#(n)'","stacktrace":{"frames":[\#(frames.joined(separator: ","))]}}]},"#
            + #""contexts":{"runtime":{"name":"CPython","version":"3.11.7"},"os":{"name":"Linux"}}}"#
        return Array(json.utf8)
    }

    func event(_ id: String, n: Int, type: String = "KeyError") throws -> NormalizedEvent {
        let bytes = raw(id, n: n, type: type)
        var event = try EventNormalizer().normalize(
            JSONParser.parse(bytes), context: .init(envelopeEventID: id, received: now))
        event.raw = bytes
        return event
    }

    /// A running writer for `body`; its dictionary cache lives as long.
    func withWriter<T>(
        _ database: AppDatabase, compact: Bool = true, _ body: (IngestWriter) async throws -> T
    ) async throws -> T {
        let writer = IngestWriter(database: database, compactEvents: compact, metrics: TestMetrics())
        let runner = Task { try await writer.run() }
        defer { runner.cancel() }
        return try await body(writer)
    }

    func store(_ events: [NormalizedEvent], _ writer: IngestWriter, project: Int64) async throws {
        for event in events { _ = try await writer.ingest(IngestWork(projectID: project, event: event)) }
    }

    func blobs(_ database: AppDatabase) async throws -> [String: [UInt8]] {
        try await database.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT event_id, payload FROM event").map {
                ($0[0] as String, Array($0[1] as Data))
            })
        }
    }

    @Test func eventsOfAHashAreStoredAgainstItsFirstEventAndReadBackWhole() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let ids = (0..<4).map { _ in EventID.generate() }
        let events = try ids.enumerated().map { try event($1, n: $0) }
        try await withWriter(database) { try await store(events, $0, project: project) }

        let dictionaries = try await database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, project_id FROM payload_dictionary")
        }
        #expect(dictionaries.count == 1)
        let hashDictionary = try await database.writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT dictionary_id FROM grouping_hash WHERE hash = ?", arguments: [events[0].hashes[0]])
        }
        #expect(hashDictionary == dictionaries.first?[0])
        let stored = try await blobs(database)
        // The first event is the dictionary (its blob only names it); the others are compressed against it.
        #expect(stored[ids[0]]?.first == 1 && stored[ids[0]]?.count == 9)
        let plain = EventPayloadCodec.compress(events[1].raw!).count
        for id in ids.dropFirst() {
            let blob = try #require(stored[id])
            #expect(blob.first == 2)
            #expect(blob.count * 3 < plain, "\(blob.count) bytes against a dictionary, \(plain) without")
        }
        // Each reads back as it was sent, normalized.
        for (index, info) in try await database.storage.events.events(ids: ids).enumerated() {
            #expect(info.payload["extra"]?["n"] == .number(JSONNumber(literal: "\(index)")))
            #expect(info.payload == events[index].payload)
        }
    }

    @Test func withoutCompactStorageEventsAreStoredAsBeforeAndReadEitherWay() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let events = try (0..<4).map { try event(EventID.generate(), n: $0) }
        try await withWriter(database, compact: false) { try await store(Array(events[..<2]), $0, project: project) }
        #expect(try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM payload_dictionary") } == 0)
        #expect(try await blobs(database).values.allSatisfy { $0.first == 0x78 })  // zlib streams of the bytes as sent
        // Turned on later: the hash gets its dictionary from its next event; turned off again, nothing changes.
        try await withWriter(database) { try await store([events[2]], $0, project: project) }
        try await withWriter(database, compact: false) { try await store([events[3]], $0, project: project) }
        let stored = try await blobs(database)
        #expect(stored[events[2].eventID]?.first == 1 && stored[events[3].eventID]?.first == 0x78)
        #expect(try await database.storage.events.events(ids: events.map(\.eventID)).map(\.payload) == events.map(\.payload))
    }

    @Test func eventsOfANewHashInOneBatchAreAllStoredAndItsDictionaryMadeOnce() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let events = try (0..<6).map { try event(EventID.generate(), n: $0) }
        let duplicate = events[1]
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        // Queued before the writer runs: one transaction, every plan made before the hash had a dictionary.
        let tasks = (events + [duplicate]).map { event in Task { try await writer.ingest(IngestWork(projectID: project, event: event)) } }
        while writer.depth < events.count + 1 { try await Task.sleep(for: .milliseconds(1)) }
        let runner = Task { try await writer.run() }
        var stored = 0
        for task in tasks where try await task.value.eventStored { stored += 1 }
        #expect(stored == events.count)
        #expect(writer.dictionaries.count == 1)
        let later = try event(EventID.generate(), n: 9)
        _ = try await writer.ingest(IngestWork(projectID: project, event: later))
        runner.cancel()
        #expect(try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM payload_dictionary") } == 1)
        let blobs = try await blobs(database)
        // One of them (whichever the writer took first) made the dictionary; the others were stored alone (zlib).
        let forms = events.compactMap { blobs[$0.eventID]?.first }
        #expect(forms.sorted() == [1, 0x78, 0x78, 0x78, 0x78, 0x78] && blobs[later.eventID]?.first == 2)
        let all = events + [later]
        #expect(try await database.storage.events.events(ids: all.map(\.eventID)).map(\.payload) == all.map(\.payload))
    }

    @Test func aDeletedIssueTakesItsDictionaryAndTheHashGetsANewOne() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let again = EventID.generate()
        let later = EventID.generate()
        let first = try await withWriter(database) { writer -> Int64 in
            try await store([try event(EventID.generate(), n: 1), try event(EventID.generate(), n: 2)], writer, project: project)
            let (issue, dictionary) = try await database.writer.read { db in
                (try Int64.fetchOne(db, sql: "SELECT id FROM issue")!, try Int64.fetchOne(db, sql: "SELECT id FROM payload_dictionary")!)
            }

            try await database.storage.issues.deleteIssue(id: issue)
            #expect(try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM payload_dictionary") } == 0)
            // The writer's cache still names the deleted dictionary: the next event of the hash must not use it.
            #expect(writer.dictionaries.count == 1)
            try await store([try event(again, n: 3), try event(later, n: 4)], writer, project: project)
            return dictionary
        }
        let second = try await database.writer.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM payload_dictionary") }
        #expect(second.count == 1 && second[0] > first, "dictionary ids are never given again: \(second) after \(first)")
        let read = try await database.storage.events.events(ids: [again, later])
        #expect(read.map { $0.payload["extra"]?["n"] } == [.number(JSONNumber(literal: "3")), .number(JSONNumber(literal: "4"))])
        #expect(try await blobs(database)[later]?.first == 2)
    }

    @Test func aHashStoredWithoutADictionaryGetsOneFromItsNextEvent() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        var old = try event(EventID.generate(), n: 1)
        old.raw = nil  // stored normalized, as events without their bytes (and those of older versions) are
        let next = try event(EventID.generate(), n: 2)
        let third = try event(EventID.generate(), n: 3)
        try await withWriter(database) { try await store([old, next, third], $0, project: project) }
        let dictionary = try await database.writer.read { db in try Int64.fetchOne(db, sql: "SELECT dictionary_id FROM grouping_hash") }
        #expect(dictionary != nil)
        let stored = try await blobs(database)
        #expect(stored[next.eventID]?.first == 1 && stored[third.eventID]?.first == 2)
        #expect(try await database.storage.events.events(ids: [old.eventID, next.eventID, third.eventID]).map(\.payload) == [old.payload, next.payload, third.payload])
    }

    @Test func mergedAndUnmergedIssuesKeepTheirEventsReadable() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let events = try [
            event(EventID.generate(), n: 1, type: "KeyError"), event(EventID.generate(), n: 2, type: "KeyError"),
            event(EventID.generate(), n: 3, type: "ValueError"), event(EventID.generate(), n: 4, type: "ValueError"),
        ]
        try await withWriter(database) { try await store(events, $0, project: project) }
        let issues = try await database.writer.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM issue ORDER BY id") }
        #expect(issues.count == 2)
        let (parent, _) = try await database.storage.issues.mergeIssues(ids: issues)
        #expect(try await database.storage.events.events(ids: events.map(\.eventID)).map(\.payload) == events.map(\.payload))
        let moved = parent == issues[0] ? events[2] : events[0]
        let split = try await database.storage.issues.unmerge(issueID: parent, hash: moved.hashes[0])
        #expect(try await database.storage.events.events(ids: events.map(\.eventID)).map(\.payload) == events.map(\.payload))
        // Deleting the split-out issue leaves the other's events (and dictionary) alone.
        try await database.storage.issues.deleteIssue(id: split)
        let left = try await database.storage.events.events(ids: events.map(\.eventID))
        #expect(left.count == 2 && left.allSatisfy { $0.issueID == parent })
        #expect(try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM payload_dictionary") } == 1)
    }

    /// A short delta program is stored in a zlib stream of one stored block (no deflate); a long one is deflated.
    /// Either reads back through zlib.
    @Test func shortProgramsAreStoredAndLongOnesDeflated() throws {
        let id = EventID.generate()
        let first = raw(id, n: 1)
        let dictionary = PayloadDictionary(id: 7, payload: first)
        let near = raw(id, n: 1, type: "KeyErrorX")
        let far = raw(EventID.generate(), n: 3, type: "a different error with its own frames")
            + Array(repeating: 0x20, count: 400)
        for (payload, stored) in [(near, true), (far, false)] {
            let program = PayloadDelta.encode(payload, dictionary: first, index: dictionary.index)
            #expect((program.count < EventPayloadCodec.storedProgramLimit) == stored, "\(program.count) bytes")
            let blob = EventPayloadCodec.encode(payload, against: dictionary)
            // The marker, the dictionary id, its checksum; then, stored, zlib's header, the block's, the program and
            // the stream's Adler-32.
            #expect((blob.count == 1 + 8 + 4 + 2 + 5 + program.count + 4) == stored, "\(blob.count) bytes")
            #expect(try EventPayloadCodec.payloadBytes(blob) { _ in first } == payload[...])
        }
        for count in [0, 1, 127, 65_535] {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let stream = EventPayloadCodec.storedStream(bytes)
            var length = uLongf(count + 1)
            var out = [UInt8](repeating: 0, count: count + 1)
            #expect(uncompress(&out, &length, stream, uLong(stream.count)) == Z_OK, "\(count) bytes")
            #expect(Array(out.prefix(Int(length))) == bytes)
        }
    }

    @Test func blobsAgainstADictionaryNeedThatDictionary() throws {
        let payload = raw(EventID.generate(), n: 5)
        let first = raw(EventID.generate(), n: 1)
        let dictionary = PayloadDictionary(id: 7, payload: first)
        let blob = EventPayloadCodec.encode(payload, against: dictionary)
        let bytes = try EventPayloadCodec.payloadBytes(blob) { id in
            #expect(id == 7)
            return first
        }
        #expect(bytes == payload[...])
        #expect(try EventPayloadCodec.payloadBytes(EventPayloadCodec.reference(to: 7)) { _ in first } == first[...])
        // Only the dictionary's own bytes will do: other bytes fail its Adler-32 check, a missing one says so.
        let other = raw("00000000000000000000000000000000", n: 1)
        #expect(PayloadDictionary(id: 7, payload: other).bytes != dictionary.bytes)
        let mismatch = #expect(throws: DomainError.self) {
            try EventPayloadCodec.payloadBytes(blob) { _ in other }
        }
        #expect(mismatch?.message.contains("dictionary 7 does not match") == true)
        #expect(throws: DomainError.self) {
            try EventPayloadCodec.payloadBytes(blob) { id in throw DomainError(.unavailable, "dictionary \(id) is missing") }
        }
        #expect(throws: DomainError.self) { try EventPayloadCodec.payloadBytes(Array(blob.prefix(5))) { _ in other } }
    }

    @Test func deltasRebuildAnyInputFromAnyDictionary() throws {
        // Seeded mutations of a base (changed, inserted and deleted runs, the ends too), unrelated inputs,
        // repeats, and the edge sizes around the anchors.
        var state: UInt64 = 42
        func next() -> UInt64 {  // a seeded LCG (Knuth's MMIX constants), so a failing mutation repeats
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let base = raw(EventID.generate(), n: 1)
        var inputs: [[UInt8]] = [base, [], Array(base.prefix(15)), Array(base.prefix(16)), Array(base.suffix(23)),
            [UInt8](repeating: 0x61, count: 5000), Array(base.reversed())]
        for _ in 0..<200 {
            var input = base
            for _ in 0..<Int(next() % 12) {
                let at = Int(next() % UInt64(input.count + 1))
                let length = Int(next() % 300)
                switch next() % 3 {
                case 0: input.insert(contentsOf: (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
                case 1: input.removeSubrange(at..<min(input.count, at + length))
                default:
                    for index in at..<min(input.count, at + length) { input[index] = UInt8(truncatingIfNeeded: next()) }
                }
            }
            inputs.append(input)
        }
        for dictionary in [base, [UInt8](repeating: 0x61, count: 100), Array(base.prefix(10)), []] {
            let index = DeltaIndex(dictionary)
            for input in inputs {
                let program = PayloadDelta.encode(input, dictionary: dictionary, index: index)
                #expect(try PayloadDelta.decode(program, dictionary: dictionary) == input)
            }
        }
        // What differs from the base is about all a mutation costs.
        let edited = Array(base.prefix(5000)) + Array("changed".utf8) + Array(base.dropFirst(5010))
        #expect(PayloadDelta.encode(edited, dictionary: base, index: DeltaIndex(base)).count < 40)
    }

    @Test func damagedDeltaProgramsAreRefused() {
        let base = raw(EventID.generate(), n: 1)
        let program = PayloadDelta.encode(raw(EventID.generate(), n: 2), dictionary: base, index: DeltaIndex(base))
        let huge: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]  // Int64.max, the largest number
        for damaged in [
            Array(program.dropLast()), program + [0], [0x80], [5, 1, 2], [0, 10, 0xff, 0xff, 0x7f, 0], huge,
            [0, 4] + huge, [0] + huge + [0], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ] {
            #expect(throws: PayloadDelta.DeltaError.self) { try PayloadDelta.decode(damaged, dictionary: base) }
        }
        #expect(throws: PayloadDelta.DeltaError.self) { try PayloadDelta.decode(program, dictionary: Array(base.prefix(100))) }
    }

    @Test func theCacheKeepsWhatIsLookedUpWithinItsBudget() {
        let cache = PayloadDictionaryCache(maxBytes: 2400)  // two generations of 1 200 bytes: four entries of 296
        let key = { (n: Int) in PayloadDictionaryCache.Key(projectID: 1, hash: "h\(n)") }
        let entry = { (n: Int) in PayloadDictionary(id: Int64(n), payload: [UInt8](repeating: UInt8(n), count: 40)) }
        #expect(entry(0).size == 40 + 64 * 4)
        cache.insert(entry(0), for: key(0))
        for n in 1..<10 {
            cache.insert(entry(n), for: key(n))
            #expect(cache.dictionary(projectID: 1, hash: "h0")?.id == 0, "the entry looked up each time stays (\(n))")
        }
        #expect(cache.dictionary(projectID: 1, hash: "h1") == nil)  // not looked up since: dropped
        #expect(cache.count < 10)
        #expect(cache.dictionary(projectID: 2, hash: "h0") == nil)
        // One that would fill a quarter of a generation is not kept (it would push the others out).
        cache.insert(PayloadDictionary(id: 99, payload: [UInt8](repeating: 1, count: 200)), for: key(99))
        #expect(cache.dictionary(projectID: 1, hash: "h99") == nil)
    }
}

