import Foundation
import SpyglassProtocol
import Synchronization

/// The SDK's entry point: `SpyglassSDK.start { $0.dsn = "…" }`, then `capture(error:)` anywhere.
///
/// Every capture call is synchronous and never throws: it copies the scope, records the stack's addresses,
/// and queues the event; symbolication, serialization and sending happen on the SDK's worker.
public enum SpyglassSDK {
    private static let client = Mutex<Client?>(nil)
    private static let globalScope = ScopeBox(Scope())
    @TaskLocal static var taskScope: ScopeBox?

    /// Integrations that announce themselves in events' `sdk.integrations`.
    static let registeredIntegrations = Mutex<[String]>([])
    static var integrations: [String] { registeredIntegrations.withLock { $0 } }

    /// Names an integration in the events' `sdk.integrations` (the log handler and the middleware do).
    public static func register(integration name: String) {
        registeredIntegrations.withLock { if !$0.contains(name) { $0.append(name) } }
    }

    /// Starts the SDK, with its worker in a task of its own. A missing or malformed DSN leaves it off, with one
    /// warning on stderr. Returns whether it is on.
    ///
    /// A program that runs a `ServiceGroup` (a Hummingbird application, say) uses ``startService(_:)`` instead.
    @discardableResult
    public static func start(_ configure: (inout SpyglassOptions) -> Void = { _ in }) -> Bool {
        guard let client = install(configure) else { return false }
        client.startWorker()
        return true
    }

    /// Starts the SDK for a program that runs a swift-service-lifecycle `ServiceGroup`: capturing works at once,
    /// and the returned service's `run()` is the worker that sends. Put it first in the group's services: the
    /// group stops services in reverse order, so it stops after the ones that report, and on graceful shutdown
    /// it sends what is queued, then returns. A missing or malformed DSN leaves the SDK off (one warning); the
    /// service then only waits for the shutdown.
    ///
    /// ```swift
    /// let spyglass = SpyglassSDK.startService { $0.release = "my-service@1.4.2" }
    /// let group = ServiceGroup(services: [spyglass, server], logger: logger)
    /// try await group.run()
    /// ```
    public static func startService(_ configure: (inout SpyglassOptions) -> Void = { _ in }) -> SpyglassService {
        SpyglassService(client: install(configure))
    }

    /// Makes the client the options describe the current one (closing the previous one) and collects crash
    /// reports; nil when the DSN is missing or malformed. No worker runs yet.
    private static func install(_ configure: (inout SpyglassOptions) -> Void) -> Client? {
        var options = SpyglassOptions()
        configure(&options)
        guard let text = options.dsn, !text.isEmpty else {
            DebugLog.warn("no DSN (set options.dsn or SENTRY_DSN): events are not sent")
            return nil
        }
        guard let dsn = DSN(text), dsn.envelopeURL != nil else {
            DebugLog.warn("the DSN \"\(text)\" is malformed: events are not sent")
            return nil
        }
        if options.spoolDirectory == nil && !options.spoolDisabled {
            options.spoolDirectory = FileManager.default.temporaryDirectory
                .appendingPathComponent("spyglass-spool-\(dsn.publicKey.prefix(12))-\(dsn.projectID)")
        }
        if options.crashDirectory == nil {
            options.crashDirectory = options.spoolDirectory ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("spyglass-spool-\(dsn.publicKey.prefix(12))-\(dsn.projectID)")
        }
        if options.spoolDisabled { options.spoolDirectory = nil }
        globalScope.scope.withLock { $0.maxBreadcrumbs = options.maxBreadcrumbs }
        _ = ImageCache.images
        let started = Client(options: options, dsn: dsn)
        let previous = client.withLock { current in
            defer { current = started }
            return current
        }
        if let previous { Task.detached { await previous.close(timeout: .seconds(2)) } }
        ExitFlush.install()
        if options.captureCrashes, let directory = options.crashDirectory {
            for crash in CrashHandler.collectReports(directory: directory) {
                _ = started.enqueue(crash)
            }
            CrashHandler.install(directory: directory)
        }
        DebugLog.log(options.debug, "started for \(dsn.envelopeURL?.absoluteString ?? "")")
        return started
    }

    /// Whether `start` succeeded and `close` was not called.
    public static var isEnabled: Bool { client.withLock { $0 != nil } }

    static var currentClient: Client? { client.withLock { $0 } }

    // MARK: - Capture

    /// Reports an error with the stack of the caller (or the one a ``TracedError`` recorded).
    @discardableResult
    public static func capture(error: any Error, level: SpyglassLevel = .error) -> String? {
        guard let client = currentClient else { return nil }
        var event = SpyglassEvent(level: level)
        event.exceptions = ErrorDescription.exceptions(
            error, stack: CapturedStack.capture(skip: 1), mechanism: "generic", handled: true)
        return submit(event, client: client)
    }

    /// Reports a message; with `attachStacktrace` it carries the caller's stack.
    @discardableResult
    public static func capture(message: String, level: SpyglassLevel = .info) -> String? {
        guard let client = currentClient else { return nil }
        var event = SpyglassEvent(level: level, message: message)
        if client.options.attachStacktrace { event.threadStack = CapturedStack.capture(skip: 1) }
        return submit(event, client: client)
    }

    /// Reports an event built by the caller (integrations use this).
    @discardableResult
    public static func capture(event: SpyglassEvent) -> String? {
        guard let client = currentClient else { return nil }
        return submit(event, client: client)
    }

    static func submit(_ event: SpyglassEvent, client: Client) -> String? {
        var event = event
        currentScope.scope.withLock { $0 }.apply(to: &event)
        if client.options.sampleRate < 1 && Double.random(in: 0..<1) >= client.options.sampleRate {
            client.recordDiscard(reason: "sample_rate")
            return nil
        }
        return client.enqueue(event) ? event.eventID : nil
    }

    /// Sends a structured log line in the current scope's trace (with ``SpyglassOptions/enableLogs``; otherwise
    /// nothing happens). Lines are batched: ``flush(timeout:)`` sends what waits.
    ///
    /// ```swift
    /// SpyglassSDK.log(.info, "order paid", attributes: ["order_id": .integer(42), "express": .boolean(true)])
    /// ```
    public static func log(_ level: SpyglassLogLevel, _ body: String, attributes: [String: SpyglassLogAttribute] = [:]) {
        capture(log: SpyglassLog(level: level, body: body, attributes: attributes))
    }

    /// Sends a log line built by the caller (integrations use this); its trace is the current scope's unless it
    /// has one (32 lower-case hex digits; any other is replaced by the scope's).
    public static func capture(log: SpyglassLog) {
        guard let client = currentClient, client.options.enableLogs else { return }
        var line = log
        // The server refuses a whole envelope for one line whose trace id is not 32 hex digits.
        if line.traceID.map(TraceIDs.isTraceID) != true { line.traceID = currentScope.scope.withLock { $0.traceID } }
        client.enqueue(log: line)
    }

    /// Whether log lines are sent (the SDK is on, with ``SpyglassOptions/enableLogs``): integrations skip building
    /// lines otherwise.
    public static var sendsLogs: Bool { currentClient?.options.enableLogs == true }

    /// Records the stack here on an error, for errors thrown far from where they are reported.
    public static func trace(_ error: any Error) -> TracedError {
        if let traced = error as? TracedError { return traced }
        return TracedError(error)
    }

    // MARK: - Scope

    /// The scope calls go to. Every SDK call passes here, so this is also where a thread gets its alternate
    /// signal stack (a stack overflow on it can then be recorded).
    static var currentScope: ScopeBox {
        CrashHandler.prepareThread()
        return taskScope ?? globalScope
    }

    /// Changes the current scope: the task's (inside ``withScope(_:)``) or the process's.
    public static func configureScope(_ change: (inout Scope) -> Void) {
        currentScope.scope.withLock { change(&$0) }
    }

    /// Runs `operation` with a scope of its own, starting as a copy of the current one. Tags, user and
    /// breadcrumbs set inside stay inside, also across the child tasks it starts.
    public static func withScope<R>(
        _ operation: () async throws -> R, isolation: isolated (any Actor)? = #isolation
    ) async rethrows -> R {
        let box = ScopeBox(currentScope.scope.withLock { $0 })
        return try await $taskScope.withValue(box, operation: operation, isolation: isolation)
    }

    /// The synchronous form of ``withScope(_:isolation:)``.
    public static func withScope<R>(_ operation: () throws -> R) rethrows -> R {
        let box = ScopeBox(currentScope.scope.withLock { $0 })
        return try $taskScope.withValue(box, operation: operation)
    }

    public static func addBreadcrumb(_ breadcrumb: Breadcrumb) {
        currentScope.scope.withLock { $0.addBreadcrumb(breadcrumb) }
    }

    public static func setUser(_ user: SpyglassUser?) { configureScope { $0.user = user } }
    public static func setTag(_ key: String, _ value: String) { configureScope { $0.tags[key] = value } }
    public static func setExtra(_ key: String, _ value: JSONValue) { configureScope { $0.extras[key] = value } }
    public static func setContext(_ key: String, _ value: JSONValue) { configureScope { $0.contexts[key] = value } }

    // MARK: - Flush and close

    /// Waits until queued events are sent (or spooled), at most `timeout`. True when nothing is left.
    @discardableResult
    public static func flush(timeout: Duration = .seconds(2)) async -> Bool {
        guard let client = currentClient else { return true }
        return await client.flush(timeout: timeout)
    }

    /// Flushes and turns the SDK off.
    public static func close(timeout: Duration = .seconds(2)) async {
        let closing = client.withLock { current in
            defer { current = nil }
            return current
        }
        await closing?.close(timeout: timeout)
    }
}

/// Flushes queued events when the process exits normally (`exit()` or returning from `main`).
enum ExitFlush {
    private static let installed = Mutex(false)

    static func install() {
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        atexit {
            // Blocks the exiting thread (no task: the exiting thread may be one of the few the worker's tasks
            // run on) until the worker has handled what is queued, at most 2 seconds; woken by the worker, at
            // once when nothing is queued or no worker runs.
            if let client = SpyglassSDK.currentClient, client.isWorking {
                client.flushLogs()
                _ = client.pending.waitForZero(until: Date.now.addingTimeInterval(2))
            }
            // After the flush: a crash while flushing still finds the image map.
            CrashHandler.cleanUpAtExit()
        }
    }
}

extension SpyglassSDK {
    /// The exception chain of `error` with the caller's stack, for integrations building their own events.
    public static func exceptions(for error: any Error, mechanism: String, handled: Bool = true) -> [ExceptionValue] {
        ErrorDescription.exceptions(error, stack: CapturedStack.capture(skip: 1), mechanism: mechanism, handled: handled)
    }
}
