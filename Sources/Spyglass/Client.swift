import AsyncHTTPClient
import Foundation
import SpyglassProtocol
import Synchronization

/// The SDK's worker: a bounded queue of events and batches of log lines, one loop (``run()``) that symbolicates, serializes and sends
/// them, rate limits, client reports, and a disk spool for when the server is unreachable. Creating a client
/// starts nothing: `SpyglassSDK.start` runs the loop in a task of its own, a `SpyglassService` runs it as a
/// service of the caller's ServiceGroup.
final class Client: Sendable {
    let options: SpyglassOptions
    let dsn: DSN
    let transport: any Transport
    private let httpClient: HTTPClient?
    private let symbolicator: Symbolicator
    private let stream: AsyncStream<Work>
    private let continuation: AsyncStream<Work>.Continuation
    private let state = Mutex(State())
    private let spool: Spool?
    /// The task `SpyglassSDK.start` runs the loop in (none when a service runs it).
    private let workerTask = Mutex<Task<Void, Never>?>(nil)
    private let spoolRetry = Mutex<Task<Void, Never>?>(nil)
    /// Sends the log lines waiting for their batch to fill, ``SpyglassOptions/logFlushSeconds`` after the first.
    private let logTimer = Mutex<Task<Void, Never>?>(nil)
    /// Events queued or being sent: flush waits for zero.
    let pending = Countdown()
    /// 1 while the loop runs: close waits for zero.
    private let running = Countdown()
    let contexts: [String: JSONValue]

    /// What the queue holds.
    enum Work: Sendable {
        case event(SpyglassEvent)
        case logs([SpyglassLog])

        /// The data category of rate limits and client reports, and how many it counts.
        var category: (name: String, quantity: Int) {
            switch self {
            case .event: ("error", 1)
            case .logs(let lines): ("log_item", lines.count)
            }
        }
    }

    struct State {
        var rateLimits = RateLimits()
        /// Log lines waiting for their batch.
        var logs: [SpyglassLog] = []
        /// No more log lines are taken (closing, or the queue finishing): the last batch was queued.
        var logsEnded = false
        /// Batches of log lines in the queue: at most half of it, so that lines never crowd out errors.
        var queuedLogBatches = 0
        /// Discarded events by (reason, category), reported with the next envelope.
        var discarded: [String: Int] = [:]
        var closed = false
        var worker = Worker.notStarted
    }

    enum Worker { case notStarted, running, finished }

    /// Spool directories being drained: drains never overlap, so no envelope is sent twice.
    private static let draining = Mutex<Set<String>>([])

    /// Events queued or being sent.
    var pendingCount: Int { pending.value }

    /// Whether the loop runs (so that what is queued will be handled).
    var isWorking: Bool { state.withLock { $0.worker == .running } }

    init(options: SpyglassOptions, dsn: DSN) {
        self.options = options
        self.dsn = dsn
        if let transport = options.transport {
            self.transport = transport
            self.httpClient = nil
        } else {
            let client = HTTPTransport.makeClient()
            self.httpClient = client
            self.transport = HTTPTransport(client: client)
        }
        symbolicator = Symbolicator(inAppInclude: options.inAppInclude, inAppExclude: options.inAppExclude)
        spool = options.spoolDirectory.map { Spool(directory: $0, maxFiles: options.maxSpoolFiles, maxBytes: options.maxSpoolBytes) }
        contexts = DeviceContexts.collect(release: options.release)
        (stream, continuation) = AsyncStream.makeStream(
            of: Work.self, bufferingPolicy: .bufferingOldest(max(1, options.maxQueueSize)))
    }

    /// Runs the loop in a task of its own (`SpyglassSDK.start`; a `SpyglassService` runs it itself). The loop
    /// counts as running from here on, so an exit right after a capture waits for it.
    func startWorker() {
        guard claimWorker() else { return }
        workerTask.withLock { $0 = Task(priority: .utility) { [self] in await loop() } }
    }

    /// The loop, in the caller's task: sends the spool's envelopes, then each queued event, until the queue is
    /// finished (``close(timeout:)`` or ``finishQueue()``: what was queued before is still handled) or the task
    /// is cancelled; then stops the HTTP client. Runs once: when the loop already runs (or ran), returns at once.
    func run() async {
        guard claimWorker() else { return }
        await loop()
    }

    /// Marks the loop as running; false when it already was (or has finished).
    private func claimWorker() -> Bool {
        let first = state.withLock { state in
            guard state.worker == .notStarted else { return false }
            state.worker = .running
            return true
        }
        if first { running.increment() }
        return first
    }

    private func loop() async {
        if !state.withLock({ $0.closed }) { await drainSpool() }
        for await work in stream {
            // Closed: what is still queued after close's flush timeout goes to the spool (sent by the next
            // start), not to the network; so does what the stream still hands out after a cancellation.
            if state.withLock({ $0.closed }) || Task.isCancelled {
                keep(work)
            } else {
                switch work {
                case .event(let event): await process(event)
                case .logs(let lines): await process(lines)
                }
            }
            if case .logs = work { state.withLock { $0.queuedLogBatches -= 1 } }
            pending.decrement()
        }
        logTimer.withLock { $0?.cancel() }
        // A cancelled loop: lines still waiting for their batch go to the spool too.
        let rest = takeLogs(ending: true)
        if !rest.isEmpty { keep(.logs(rest)) }
        spoolRetry.withLock { $0?.cancel() }
        try? await httpClient?.shutdown()
        state.withLock { $0.worker = .finished }
        running.decrement()
    }

    /// Ends the queue: the loop handles what was queued, then returns; later captures are dropped. A service's
    /// graceful shutdown.
    func finishQueue() {
        flushLogs(ending: true)
        continuation.finish()
    }

    /// Queues an event; never blocks. Returns false when it was dropped (queue full or closed).
    func enqueue(_ event: SpyglassEvent) -> Bool {
        guard !state.withLock({ $0.closed }) else { return false }
        return enqueue(work: .event(event))
    }

    /// Adds a log line to its batch; never blocks. A full batch is queued at once; the first line of a batch
    /// starts the timer that queues it anyway.
    func enqueue(log line: SpyglassLog) {
        let size = min(max(options.logBatchSize, 1), 1000)
        let (batch, first, refused): ([SpyglassLog]?, Bool, Bool) = state.withLock { state in
            guard !state.closed && !state.logsEnded else { return (nil, false, true) }
            state.logs.append(line)
            guard state.logs.count >= size else { return (nil, state.logs.count == 1, false) }
            defer { state.logs = [] }
            return (state.logs, false, false)
        }
        if refused {
            recordDiscard(reason: "queue_overflow", category: "log_item")
        } else if let batch {
            _ = enqueue(work: .logs(batch))
        } else if first {
            // `.seconds` traps on a value that is not finite or beyond Int64's nanoseconds.
            let wait = options.logFlushSeconds.isFinite ? min(max(options.logFlushSeconds, 0.01), 3600) : 5
            logTimer.withLock { timer in
                timer?.cancel()
                timer = Task.detached(priority: .utility) { [self] in
                    try? await Task.sleep(for: .seconds(wait))
                    if !Task.isCancelled { flushLogs() }
                }
            }
        }
    }

    /// Queues the log lines waiting for their batch; `ending`: the last batch (later lines are refused and
    /// counted).
    func flushLogs(ending: Bool = false) {
        let batch = takeLogs(ending: ending)
        if !batch.isEmpty { _ = enqueue(work: .logs(batch)) }
    }

    private func takeLogs(ending: Bool) -> [SpyglassLog] {
        state.withLock { state in
            if ending { state.logsEnded = true }
            defer { state.logs = [] }
            return state.logs
        }
    }

    private func enqueue(work: Work) -> Bool {
        if case .logs = work {
            let room = state.withLock { state in
                guard state.queuedLogBatches < max(1, options.maxQueueSize / 2) else { return false }
                state.queuedLogBatches += 1
                return true
            }
            guard room else {
                refuse(work, "queue full for log lines (\(max(1, options.maxQueueSize / 2)) batches)")
                return false
            }
        }
        pending.increment()
        let result = continuation.yield(work)
        if case .enqueued = result { return true }
        pending.decrement()
        if case .logs = work { state.withLock { $0.queuedLogBatches -= 1 } }
        switch result {
        case .dropped: refuse(work, "queue full (\(options.maxQueueSize))")
        // The queue finished since the caller's check: what came too late is counted as dropped.
        default: refuse(work, "queue finished")
        }
        return false
    }

    private func refuse(_ work: Work, _ reason: String) {
        let (category, quantity) = work.category
        recordDiscard(reason: "queue_overflow", category: category, quantity: quantity)
        DebugLog.log(options.debug, "\(reason): \(work.description) dropped")
    }

    func recordDiscard(reason: String, category: String = "error", quantity: Int = 1) {
        state.withLock { $0.discarded["\(reason):\(category)", default: 0] += quantity }
    }

    /// Waits until every queued event was handled, or `timeout` passed; true when everything was handled. False
    /// at once when events wait and no loop runs (a service not started yet).
    func flush(timeout: Duration) async -> Bool {
        flushLogs()
        guard isWorking || pending.value == 0 else { return false }
        return await pending.waitForZero(timeout: timeout)
    }

    /// Flushes, then stops the loop and the HTTP client. What is still queued after `timeout` is spooled (or
    /// counted as dropped without a spool); a send in flight gets one more second, then the loop's task is
    /// cancelled (a service's loop is not: it goes on spooling in the service's task).
    func close(timeout: Duration) async {
        if isWorking { _ = await flush(timeout: timeout) }
        // The last lines are queued (and spooled by the closed loop) before the queue ends; later ones are refused.
        flushLogs(ending: true)
        state.withLock { $0.closed = true }
        logTimer.withLock { $0?.cancel() }
        continuation.finish()
        // Never run (a service not started): the loop runs here, spooling what was queued.
        await run()
        // Whichever comes first: the loop ends, or a second passes (a custom transport may never return). A send
        // cut off here counts as unreachable: its envelope is spooled (the server drops a duplicate event).
        if !(await running.waitForZero(timeout: .seconds(1))) {
            workerTask.withLock { $0?.cancel() }
        }
        spoolRetry.withLock { $0?.cancel() }
    }

    /// Writes an event or log lines to the spool without sending them (the client is closing); without a spool
    /// they are dropped and counted.
    private func keep(_ work: Work) {
        let envelope: [UInt8]
        var (category, quantity) = work.category
        switch work {
        case .event(let event):
            guard let (eventID, payload) = prepare(event) else { return }
            envelope = self.envelope(eventID: eventID, items: [Self.item("event", payload)], now: .now)
        case .logs(let lines):
            guard let (item, count) = logItem(lines) else { return }
            envelope = self.envelope(eventID: nil, items: [item], now: .now)
            quantity = count
        }
        if spoolTakes(category, bytes: envelope.count), let spool, spool.store(envelope) {
            DebugLog.log(options.debug, "closing: \(work.description) spooled for the next start")
        } else {
            recordDiscard(reason: "queue_overflow", category: category, quantity: quantity)
        }
    }

    /// Whether the spool takes an envelope of `category` and size: log lines only while the spool is less than half
    /// full, in files and in bytes, so that storing them never pushes waiting errors out (the spool drops its
    /// oldest files when full).
    private func spoolTakes(_ category: String, bytes: Int) -> Bool {
        guard let spool else { return false }
        guard category == "log_item" else { return true }
        let files = spool.files()
        return files.count < max(1, spool.maxFiles / 2) && spool.bytes(files) + bytes <= spool.maxBytes / 2
    }

    // MARK: - The worker

    /// The error descriptions worked out, `beforeSend` applied, serialized; nil when `beforeSend` dropped it.
    private func prepare(_ event: SpyglassEvent) -> (eventID: String, payload: [UInt8])? {
        var event = event
        event.exceptions = event.exceptions.map(ErrorDescription.describe)
        if let beforeSend = options.beforeSend {
            guard let changed = beforeSend(event) else {
                recordDiscard(reason: "before_send")
                DebugLog.log(options.debug, "beforeSend dropped event \(event.eventID)")
                return nil
            }
            event = changed
        }
        let payload = EventSerializer(options: options, contexts: contexts, symbolicator: symbolicator).json(event)
        return (event.eventID, JSONWriter.bytes(payload))
    }

    private func process(_ event: SpyglassEvent) async {
        guard let (eventID, payload) = prepare(event) else { return }
        let now = Date.now
        guard state.withLock({ $0.rateLimits.allows("error", now: now) }) else {
            recordDiscard(reason: "ratelimit_backoff")
            DebugLog.log(options.debug, "rate limited: event \(eventID) dropped")
            return
        }
        await send(eventID: eventID, item: Self.item("event", payload), description: "event \(eventID)", now: now)
    }

    /// The lines through `beforeSendLog` as a `log` item, with how many it holds; nil when none is left.
    private func logItem(_ lines: [SpyglassLog]) -> (item: EnvelopeItemOut, count: Int)? {
        var lines = lines
        if let beforeSendLog = options.beforeSendLog {
            let before = lines.count
            lines = lines.compactMap(beforeSendLog)
            if lines.count < before { recordDiscard(reason: "before_send", category: "log_item", quantity: before - lines.count) }
        }
        guard !lines.isEmpty else { return nil }
        let payload = LogSerializer(options: options).payload(lines)
        let header: JSONObject = [
            "type": "log", "item_count": .number(JSONNumber(Int64(lines.count))), "content_type": "application/vnd.sentry.items.log+json",
        ]
        return ((header, payload), lines.count)
    }

    private func process(_ lines: [SpyglassLog]) async {
        let now = Date.now
        guard state.withLock({ $0.rateLimits.allows("log_item", now: now) }) else {
            recordDiscard(reason: "ratelimit_backoff", category: "log_item", quantity: lines.count)
            DebugLog.log(options.debug, "rate limited: \(lines.count) log lines dropped")
            return
        }
        guard let (item, count) = logItem(lines) else { return }
        await send(eventID: nil, item: item, description: "\(count) log lines", now: now, category: ("log_item", count))
    }

    /// Sends one item with the client report of what was dropped since the last one went out.
    private func send(
        eventID: String?, item: EnvelopeItemOut, description: String, now: Date, category: (String, Int) = ("error", 1)
    ) async {
        let discarded = state.withLock { $0.discarded }
        let envelope = envelope(eventID: eventID, items: [item] + clientReportItem(discarded), now: now)
        if await deliver(envelope, description: description, category: category) {
            // The report went out (or waits in the spool): count only what was dropped since.
            state.withLock { state in
                for (key, quantity) in discarded { state.discarded[key] = (state.discarded[key] ?? 0) - quantity }
                state.discarded = state.discarded.filter { $0.value > 0 }
            }
        }
    }

    /// Sends an envelope, handling the answer: spool it when the server is unreachable. Returns whether the
    /// envelope was sent or kept in the spool.
    @discardableResult
    private func deliver(_ envelope: [UInt8], description: String, category: (name: String, quantity: Int)) async -> Bool {
        switch await transport.send(envelope, dsn: dsn) {
        case .sent:
            DebugLog.log(options.debug, "sent \(description)")
            await drainSpool()
            return true
        case .rateLimited(let limits, let retryAfter):
            state.withLock { $0.rateLimits.update(rateLimits: limits, retryAfter: retryAfter, now: .now) }
            recordDiscard(reason: "ratelimit_backoff", category: category.name, quantity: category.quantity)
            DebugLog.log(options.debug, "rate limited (\(limits ?? retryAfter ?? "429")): \(description) dropped")
            return false
        case .rejected(let status):
            recordDiscard(reason: "send_error", category: category.name, quantity: category.quantity)
            DebugLog.log(options.debug, "server refused \(description) (\(status))")
            return false
        case .unreachable(let reason):
            DebugLog.log(options.debug, "server unreachable (\(reason)): \(description) \(spool == nil ? "dropped" : "spooled")")
            if spoolTakes(category.name, bytes: envelope.count), let spool, spool.store(envelope) {
                scheduleSpoolRetry()
                return true
            }
            recordDiscard(reason: "network_error", category: category.name, quantity: category.quantity)
            return false
        }
    }

    /// Sends what the spool holds, oldest first; stops at the first failure and while rate limited. One drain
    /// at a time: a call while another runs returns at once.
    func drainSpool() async {
        guard let spool else { return }
        // One drain per spool directory in the process (a client being replaced by a new start may still drain).
        let path = spool.directory.standardizedFileURL.path
        let started = Self.draining.withLock { $0.insert(path).inserted }
        guard started else { return }
        defer { _ = Self.draining.withLock { $0.remove(path) } }
        for file in spool.files() {
            guard let envelope = spool.read(file) else { continue }
            // Each envelope waits for its own category's limit (log lines and errors are limited apart).
            guard state.withLock({ $0.rateLimits.allows(Self.category(of: envelope), now: .now) }) else {
                scheduleSpoolRetry()
                continue
            }
            switch await transport.send(envelope, dsn: dsn) {
            case .sent, .rejected:
                spool.remove(file)
            case .rateLimited(let limits, let retryAfter):
                state.withLock { $0.rateLimits.update(rateLimits: limits, retryAfter: retryAfter, now: .now) }
                return
            case .unreachable:
                scheduleSpoolRetry()
                return
            }
        }
    }

    /// The rate-limit category of an envelope the SDK wrote: its first item's (`log` → `log_item`, else `error`).
    static func category(of envelope: [UInt8]) -> String {
        let lines = envelope.split(separator: UInt8(ascii: "\n"), maxSplits: 2, omittingEmptySubsequences: false)
        guard lines.count > 1, let header = try? JSONParser.parse(Array(lines[1])) else { return "error" }
        return header["type"]?.stringValue == "log" ? "log_item" : "error"
    }

    /// Tries the spool again every few seconds while it holds envelopes.
    private func scheduleSpoolRetry() {
        spoolRetry.withLock { task in
            guard task == nil else { return }
            task = Task.detached(priority: .utility) { [self] in
                while !Task.isCancelled, let spool, !spool.files().isEmpty {
                    // `.seconds` traps on a value that is not finite or beyond Int64's nanoseconds.
                    let retry = options.spoolRetrySeconds.isFinite ? min(max(options.spoolRetrySeconds, 0.1), 86_400) : 10
                    try? await Task.sleep(for: .seconds(retry))
                    if Task.isCancelled { break }
                    await drainSpool()
                }
                self.spoolRetry.withLock { $0 = nil }
            }
        }
    }

    private func clientReportItem(_ discarded: [String: Int]) -> [EnvelopeItemOut] {
        guard !discarded.isEmpty else { return [] }
        let entries: [JSONValue] = discarded.sorted { $0.key < $1.key }.map { key, quantity in
            let parts = key.split(separator: ":")
            return [
                "reason": .string(String(parts[0])), "category": .string(parts.count > 1 ? String(parts[1]) : "error"),
                "quantity": .number(JSONNumber(Int64(quantity))),
            ]
        }
        let report: JSONValue = ["timestamp": .number(JSONNumber(Date.now.timeIntervalSince1970)), "discarded_events": .array(entries)]
        return [Self.item("client_report", JSONWriter.bytes(report))]
    }

    /// An item's header (without its length) and payload.
    typealias EnvelopeItemOut = (header: JSONObject, payload: [UInt8])

    static func item(_ type: String, _ payload: [UInt8]) -> EnvelopeItemOut { (["type": .string(type)], payload) }

    func envelope(eventID: String?, items: [EnvelopeItemOut], now: Date) -> [UInt8] {
        var header: JSONObject = [
            "sent_at": .string(now.formatted(.iso8601)), "dsn": .string(dsn.description),
            "sdk": ["name": .string(SDKInfo.name), "version": .string(SDKInfo.version)],
        ]
        if let eventID { header["event_id"] = .string(eventID) }
        var bytes = JSONWriter.bytes(.object(header))
        bytes.append(UInt8(ascii: "\n"))
        for (itemHeader, payload) in items {
            var itemHeader = itemHeader
            itemHeader["length"] = .number(JSONNumber(Int64(payload.count)))
            bytes += JSONWriter.bytes(.object(itemHeader))
            bytes.append(UInt8(ascii: "\n"))
            bytes += payload
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }
}

/// Envelopes waiting on disk, one file each, bounded in count and bytes (the oldest go first).
struct Spool: Sendable {
    let directory: URL
    let maxFiles: Int
    let maxBytes: Int

    func files() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".envelope") }.sorted().map { directory.appendingPathComponent($0) }
    }

    /// Writes an envelope; false when it could not be kept.
    /// The bytes of these spool files.
    func bytes(_ files: [URL]) -> Int {
        files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int) ?? 0) }
    }

    func store(_ envelope: [UInt8]) -> Bool {
        guard envelope.count <= maxBytes else { return false }
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var existing = files()
        var total = bytes(existing)
        while !existing.isEmpty && (existing.count >= maxFiles || total + envelope.count > maxBytes) {
            let oldest = existing.removeFirst()
            total -= (try? FileManager.default.attributesOfItem(atPath: oldest.path)[.size] as? Int) ?? 0
            try? FileManager.default.removeItem(at: oldest)
        }
        let name = String(format: "%020.6f", Date.now.timeIntervalSince1970) + "-" + UUID().uuidString + ".envelope"
        let target = directory.appendingPathComponent(name)
        let temporary = directory.appendingPathComponent("." + name + ".tmp")
        do {
            try Data(envelope).write(to: temporary)
            try FileManager.default.moveItem(at: temporary, to: target)
            return true
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            return false
        }
    }

    func read(_ file: URL) -> [UInt8]? {
        FileManager.default.contents(atPath: file.path).map { Array($0) }
    }

    func remove(_ file: URL) {
        try? FileManager.default.removeItem(at: file)
    }
}

extension Client.Work: CustomStringConvertible {
    var description: String {
        switch self {
        case .event(let event): "event \(event.eventID)"
        case .logs(let lines): "\(lines.count) log line\(lines.count == 1 ? "" : "s")"
        }
    }
}
