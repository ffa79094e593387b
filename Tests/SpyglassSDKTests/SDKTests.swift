import Foundation
import Logging
import ServiceLifecycle
import Spyglass
import SpyglassLogging
import SpyglassProtocol
import SpyglassTesting
import Testing

struct CheckoutError: Error, LocalizedError {
    var orderID: Int
    var errorDescription: String? { "checkout of order \(orderID) failed" }
}

struct WrappedError: ErrorWithCause {
    var underlyingError: (any Error)?
}

let checkoutLine = #line + 1
@inline(never) func failingCheckout() throws { throw SpyglassSDK.trace(CheckoutError(orderID: 7)) }

/// Answers every send after 300 ms.
final class SlowTransport: Transport {
    let inner = TestTransport()
    func send(_ envelope: [UInt8], dsn: DSN) async -> TransportResult {
        try? await Task.sleep(for: .milliseconds(300))
        return await inner.send(envelope, dsn: dsn)
    }
}

/// The SDK is process-wide: these tests run one after the other, each starting it with a TestTransport.
@Suite(.serialized) struct SDKTests {
    func start(_ configure: (inout SpyglassOptions) -> Void = { _ in }) -> TestTransport {
        let transport = TestTransport()
        SpyglassSDK.start { options in
            options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42"
            options.release = "tests@1.0"
            options.spoolDisabled = true
            options.captureCrashes = false  // no signal handlers in the test runner
            options.transport = transport
            configure(&options)
        }
        SpyglassSDK.configureScope { $0.clear() }
        return transport
    }

    @Test func errorsCarryTypeValueChainAndTheirStack() async throws {
        let transport = start()
        do { try failingCheckout() } catch { SpyglassSDK.capture(error: WrappedError(underlyingError: error)) }
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        let event = try #require(transport.events.first)
        #expect(event["platform"]?.stringValue == "swift" && event["release"]?.stringValue == "tests@1.0")
        let values = try #require(event["exception"]?["values"]?.arrayValue)
        // Innermost cause first, as Sentry orders a chain.
        #expect(values.map { $0["type"]?.stringValue } == ["SpyglassSDKTests.CheckoutError", "SpyglassSDKTests.WrappedError"])
        #expect(values[0]["value"]?.stringValue == "checkout of order 7 failed")
        // The traced error's own stack: where it was thrown, oldest frame first, the throwing function last.
        let frames = try #require(values[0]["stacktrace"]?["frames"]?.arrayValue)
        let last = try #require(frames.last)
        #expect(last["function"]?.stringValue?.contains("failingCheckout") == true)
        #expect(last["filename"]?.stringValue == "Tests/SpyglassSDKTests/SDKTests.swift")
        #expect(last["lineno"]?.int64Value == Int64(checkoutLine) && last["in_app"]?.boolValue == true)
        #expect(last["context_line"]?.stringValue?.contains("throw SpyglassSDK.trace") == true)
        #expect(frames.contains { $0["in_app"]?.boolValue == false })
        let contexts = try #require(event["contexts"])
        #expect(contexts["runtime"]?["name"]?.stringValue == "swift" && contexts["os"]?["name"] != nil)
        #expect(contexts["device"]?["arch"]?.stringValue?.isEmpty == false)
        #expect(event["sdk"]?["name"]?.stringValue == "spyglass.swift")
        await SpyglassSDK.close()
    }

    @Test func scopesAreTaskLocalAndBreadcrumbsAreARing() async throws {
        let transport = start { $0.maxBreadcrumbs = 3 }
        SpyglassSDK.setTag("service", "api")
        for number in 1...5 { SpyglassSDK.addBreadcrumb(Breadcrumb(message: "step \(number)")) }
        await withTaskGroup(of: Void.self) { group in
            for request in 0..<20 {
                group.addTask {
                    await SpyglassSDK.withScope {
                        SpyglassSDK.setTag("request", "\(request)")
                        SpyglassSDK.setUser(SpyglassUser(id: "user-\(request)"))
                        try? await Task.sleep(for: .milliseconds(Int.random(in: 0...5)))
                        SpyglassSDK.capture(message: "request \(request)", level: .warning)
                    }
                }
            }
        }
        SpyglassSDK.capture(message: "outside")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        let events = transport.events
        #expect(events.count == 21)
        for event in events {
            let text = try #require(event["logentry"]?["formatted"]?.stringValue)
            #expect(event["tags"]?["service"]?.stringValue == "api")
            if text == "outside" {
                #expect(event["tags"]?["request"] == nil && event["user"] == nil)
            } else {
                let number = String(text.dropFirst("request ".count))
                #expect(event["tags"]?["request"]?.stringValue == number && event["user"]?["id"]?.stringValue == "user-\(number)")
            }
            let crumbs = try #require(event["breadcrumbs"]?["values"]?.arrayValue)
            #expect(crumbs.map { $0["message"]?.stringValue } == ["step 3", "step 4", "step 5"])
        }
        await SpyglassSDK.close()
    }

    @Test func beforeSendSamplingAndQueueOverflowDropAndCount() async throws {
        let transport = start { options in
            options.beforeSend = { event in
                if event.message == "secret" { return nil }
                var changed = event
                changed.tags["scrubbed"] = "yes"
                return changed
            }
        }
        SpyglassSDK.capture(message: "secret")
        SpyglassSDK.capture(message: "public")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(transport.events.map { $0["logentry"]?["formatted"]?.stringValue } == ["public"])
        #expect(transport.events.first?["tags"]?["scrubbed"]?.stringValue == "yes")
        await SpyglassSDK.close()

        let none = start { $0.sampleRate = 0 }
        for _ in 0..<10 { #expect(SpyglassSDK.capture(message: "sampled out") == nil) }
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(none.events.isEmpty)
        await SpyglassSDK.close()

        // A tiny queue and a slow server: most captures are dropped at once, and reported later.
        let slow = start { $0.maxQueueSize = 2 }
        slow.answer(.unreachable("down"), .unreachable("down"), .unreachable("down"))
        var accepted = 0
        for index in 0..<50 where SpyglassSDK.capture(message: "burst \(index)") != nil { accepted += 1 }
        #expect(accepted < 50)
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        // Two or three captures got in (the worker may take one before the queue fills), so one outage answer
        // may be left: a report riding on an envelope that fails waits for the next one, hence two more events.
        SpyglassSDK.capture(message: "after")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        SpyglassSDK.capture(message: "after again")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        let reported = slow.clientReports.flatMap { $0["discarded_events"]?.arrayValue ?? [] }
        let overflow = reported.filter { $0["reason"]?.stringValue == "queue_overflow" }.compactMap { $0["quantity"]?.int64Value }.reduce(0, +)
        #expect(overflow == Int64(50 - accepted))
        await SpyglassSDK.close()
    }

    @Test func closingSpoolsWhatItCouldNotSendAndTheNextStartSendsIt() async throws {
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent("spyglass-close-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: spool) }
        let slow = SlowTransport()
        _ = start { options in
            options.spoolDisabled = false
            options.spoolDirectory = spool
            options.transport = slow
        }
        for index in 0..<5 { SpyglassSDK.capture(message: "queued \(index)") }
        await SpyglassSDK.close(timeout: .milliseconds(100))
        let sentFirst = slow.inner.events.count
        #expect(sentFirst >= 1 && sentFirst < 5)

        let transport = start { options in
            options.spoolDisabled = false
            options.spoolDirectory = spool
        }
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        try await Task.sleep(for: .milliseconds(200))  // the spool drains before the first queued event
        let messages = (slow.inner.events + transport.events).compactMap { $0["logentry"]?["formatted"]?.stringValue }
        #expect(messages.sorted() == (0..<5).map { "queued \($0)" })
        await SpyglassSDK.close()
    }

    @Test func asAServiceItSendsOnlyWhileRunningAndWhatIsQueuedOnGracefulShutdown() async throws {
        let slow = SlowTransport()  // 300 ms a send
        let service = SpyglassSDK.startService { options in
            options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42"
            options.spoolDisabled = true
            options.captureCrashes = false
            options.transport = slow
        }
        #expect(service.isEnabled && SpyglassSDK.isEnabled)
        for index in 0..<4 { SpyglassSDK.capture(message: "queued \(index)") }
        // Starting the SDK started no worker: nothing is sent until the service runs.
        try await Task.sleep(for: .milliseconds(500))
        #expect(slow.inner.events.isEmpty)

        let group = ServiceGroup(services: [service], logger: Logger(label: "tests"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            // Mid-send of the first event: the service sends the other three before it returns.
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let messages = slow.inner.events.compactMap { $0["logentry"]?["formatted"]?.stringValue }
        #expect(messages == (0..<4).map { "queued \($0)" })
        // The worker has stopped: later captures are dropped, and flush does not wait for them.
        #expect(SpyglassSDK.capture(message: "after the shutdown") == nil)
        #expect(await SpyglassSDK.flush(timeout: .seconds(5)))
        await SpyglassSDK.close()
    }

    @Test func closingTheSDKLeavesItsServiceRunningUntilTheGroupShutsDown() async throws {
        let service = SpyglassSDK.startService { options in
            options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42"
            options.spoolDisabled = true
            options.captureCrashes = false
            options.transport = TestTransport()
        }
        let group = ServiceGroup(services: [service], logger: Logger(label: "tests"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let started = ContinuousClock.now
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            await SpyglassSDK.close()
            try await Task.sleep(for: .milliseconds(300))
            // A service that had returned at close would have ended the group with an error by now.
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(ContinuousClock.now - started >= .milliseconds(400))
        }
    }

    @Test func aServiceWithoutADSNWaitsForTheShutdownAndSendsNothing() async throws {
        await SpyglassSDK.close()
        let service = SpyglassSDK.startService { $0.dsn = "" }
        #expect(!service.isEnabled && !SpyglassSDK.isEnabled)
        let group = ServiceGroup(services: [service], logger: Logger(label: "tests"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let started = ContinuousClock.now
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(300))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            // It ran until the shutdown (returning at once would have ended the group then).
            #expect(ContinuousClock.now - started >= .milliseconds(300))
        }
    }

    @Test func flushWaitsForTheLastSendAndGivesUpAtItsTimeout() async throws {
        let slow = SlowTransport()
        _ = start { $0.transport = slow }
        SpyglassSDK.capture(message: "slow")
        #expect(await SpyglassSDK.flush(timeout: .milliseconds(50)) == false)
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(slow.inner.events.count == 1)
        await SpyglassSDK.close()
    }

    @Test func rateLimitsAreHonouredPerCategory() async throws {
        let transport = start()
        transport.answer(.rateLimited(rateLimits: "60:error;default:key", retryAfter: nil))
        SpyglassSDK.capture(message: "limited first")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        SpyglassSDK.capture(message: "dropped during the limit")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(transport.events.isEmpty)
        await SpyglassSDK.close()
    }

    @Test func errorLogsBecomeEventsAndInfoLogsBreadcrumbs() async throws {
        let transport = start()
        let logger = Logger(label: "billing") { label in SpyglassLogHandler(label: label) }
        logger.info("charging card", metadata: ["order": "7"])
        logger.warning("card declined once")
        logger.debug("not kept")
        logger.error("payment failed for \(7)", error: CheckoutError(orderID: 7), metadata: ["attempt": "2"])
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        let event = try #require(transport.events.first)
        #expect(event["logentry"]?["formatted"]?.stringValue == "payment failed for 7" && event["logger"]?.stringValue == "billing")
        #expect(event["exception"]?["values"]?.arrayValue?.last?["type"]?.stringValue == "SpyglassSDKTests.CheckoutError")
        #expect(event["exception"]?["values"]?.arrayValue?.last?["mechanism"]?["type"]?.stringValue == "logging")
        #expect(event["extra"]?["attempt"]?.stringValue == "2")
        let crumbs = try #require(event["breadcrumbs"]?["values"]?.arrayValue)
        #expect(crumbs.map { $0["message"]?.stringValue } == ["charging card", "card declined once"])
        #expect(crumbs.first?["data"]?["order"]?.stringValue == "7" && crumbs.last?["level"]?.stringValue == "warning")
        #expect(event["sdk"]?["integrations"]?.arrayValue?.contains("swift-log") == true)
        await SpyglassSDK.close()
    }

    @Test func swiftLogRecordsBecomeTypedLogLinesInTheTraceOfTheirError() async throws {
        let transport = start { $0.enableLogs = true }
        let logger = Logger(label: "billing") { label in SpyglassLogHandler(label: label) }
        logger.info("outside the request")
        try await SpyglassSDK.withScope {
            SpyglassSDK.configureScope { $0.startTrace() }
            logger.info(
                "charging card",
                metadata: [
                    "order": "7", "attempt": .stringConvertible(2), "amount": .stringConvertible(12.5), "express": .stringConvertible(true),
                    "huge": .stringConvertible(UInt64.max), "tags": ["a", "b"],
                ])
            logger.debug("below the threshold")
            logger.error("payment failed", error: CheckoutError(orderID: 7))
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        let lines = transport.logs
        #expect(lines.map { $0["body"]?.stringValue } == ["outside the request", "charging card", "payment failed"])
        #expect(lines.map { $0["level"]?.stringValue } == ["info", "info", "error"])
        let charging = lines[1]["attributes"]
        #expect(charging?["order"] == ["type": "string", "value": "7"])
        #expect(charging?["attempt"] == ["type": "integer", "value": 2])
        #expect(charging?["amount"] == ["type": "double", "value": .number(JSONNumber(12.5))])
        #expect(charging?["express"] == ["type": "boolean", "value": true])
        #expect(charging?["huge"] == ["type": "string", "value": "18446744073709551615"])
        #expect(charging?["tags"]?["type"] == "string")
        #expect(charging?["logger.name"]?["value"] == "billing" && charging?["sentry.release"]?["value"] == "tests@1.0")
        #expect(charging?["code.function.name"]?["value"]?.stringValue?.contains("swiftLogRecords") == true)
        // The error of the request and its lines share the request's trace; the line before it is in another.
        let event = try #require(transport.events.first)
        let trace = try #require(event["contexts"]?["trace"]?["trace_id"]?.stringValue)
        #expect(trace.count == 32 && lines[1]["trace_id"]?.stringValue == trace && lines[2]["trace_id"]?.stringValue == trace)
        #expect(lines[0]["trace_id"]?.stringValue != trace)
        let item = try #require(transport.envelopes.flatMap(\.items).first { $0.knownType == .log })
        #expect(item.headers["content_type"]?.stringValue == "application/vnd.sentry.items.log+json")
        #expect(item.headers["item_count"]?.int64Value == 3)
        await SpyglassSDK.close()
    }

    @Test func logLinesGoInBatchesByCountAndTimeAndOnlyWhenEnabled() async throws {
        let transport = start { options in
            options.enableLogs = true
            options.logBatchSize = 10
            options.logFlushSeconds = 0.3
        }
        for number in 0..<25 { SpyglassSDK.log(.info, "line \(number)", attributes: ["n": .integer(Int64(number))]) }
        // Two full batches go at once; the rest when the time is up, without a flush.
        let deadline = ContinuousClock.now + .seconds(20)
        while transport.logs.count < 25 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let counts = transport.envelopes.compactMap { $0.items.first { $0.knownType == .log }?.headers["item_count"]?.int64Value }
        #expect(counts == [10, 10, 5])
        #expect(transport.logs.map { $0["attributes"]?["n"]?["value"]?.int64Value } == (0..<25).map { Int64($0) })

        let off = start()  // enableLogs is off by default
        SpyglassSDK.log(.error, "not sent")
        Logger(label: "off") { SpyglassLogHandler(label: $0) }.warning("not sent either")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(off.logs.isEmpty)
        await SpyglassSDK.close()
    }

    @Test func logLinesHonourTheirRateLimitAndBeforeSendLog() async throws {
        let transport = start { options in
            options.enableLogs = true
            options.beforeSendLog = { line in line.body.contains("secret") ? nil : line }
        }
        transport.answer(.rateLimited(rateLimits: "60:log_item:key", retryAfter: nil))
        SpyglassSDK.log(.info, "limited first")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        SpyglassSDK.log(.info, "dropped during the limit")
        SpyglassSDK.log(.info, "also dropped")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(transport.logs.isEmpty)
        // Events are another category: they still go, with the report of the dropped lines.
        SpyglassSDK.capture(message: "an error meanwhile")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(transport.events.count == 1)
        let discarded = try #require(transport.clientReports.first?["discarded_events"]?.arrayValue)
        #expect(discarded.contains(["reason": "ratelimit_backoff", "category": "log_item", "quantity": 3]))

        let current = start { options in
            options.enableLogs = true
            options.beforeSendLog = { line in
                guard !line.body.contains("secret") else { return nil }
                var line = line
                line.attributes["checked"] = .boolean(true)
                return line
            }
        }
        SpyglassSDK.log(.warn, "the secret is 42")
        SpyglassSDK.log(.warn, "nothing to hide")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        #expect(current.logs.map { $0["body"]?.stringValue } == ["nothing to hide"])
        #expect(current.logs.first?["attributes"]?["checked"]?["value"] == true)
        await SpyglassSDK.close()
    }

    @Test func logLinesNeverCrowdOutErrorsInTheQueueOrTheSpool() async throws {
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent("spyglass-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: spool) }
        let slow = SlowTransport()
        _ = start { options in
            options.transport = slow
            options.enableLogs = true
            options.logBatchSize = 1  // each line a batch
            options.maxQueueSize = 4
        }
        for number in 0..<10 { SpyglassSDK.log(.info, "line \(number)") }
        SpyglassSDK.capture(message: "the error still gets in")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        // Half the queue (2 batches) and the one being sent; the rest dropped, the error sent.
        #expect(slow.inner.events.count == 1)
        #expect((1...3).contains(slow.inner.logs.count))
        SpyglassSDK.capture(message: "carries the report")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        let reports = slow.inner.clientReports.flatMap { $0["discarded_events"]?.arrayValue ?? [] }
        let dropped = reports.filter { $0["reason"] == "queue_overflow" && $0["category"] == "log_item" }
        #expect(dropped.compactMap { $0["quantity"]?.int64Value }.reduce(0, +) == Int64(10 - slow.inner.logs.count))

        // The server unreachable: log envelopes fill at most half of the spool; an error still finds room.
        let down = TestTransport()
        for _ in 0..<20 { down.answer(.unreachable("down")) }
        _ = start { options in
            options.transport = down
            options.enableLogs = true
            options.logBatchSize = 1
            options.spoolDisabled = false
            options.spoolDirectory = spool
            options.maxSpoolFiles = 4
            options.spoolRetrySeconds = 3600
        }
        for number in 0..<6 {
            SpyglassSDK.log(.info, "offline \(number)")
            #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        }
        SpyglassSDK.capture(message: "offline error")
        #expect(await SpyglassSDK.flush(timeout: .seconds(30)))
        let files = try FileManager.default.contentsOfDirectory(atPath: spool.path).sorted()
        let texts = try files.map { try String(contentsOf: spool.appendingPathComponent($0), encoding: .utf8) }
        #expect(texts.filter { $0.contains("offline error") }.count == 1)
        #expect(texts.filter { $0.contains("\"type\":\"log\"") }.count == 2)
        await SpyglassSDK.close()
    }

    @Test func aTraceContinuesFromASentryTraceHeaderOrStartsAnew() {
        var scope = Scope()
        let first = scope.traceID
        scope.startTrace(sentryTrace: "771a43a4192642f0b136d5159a501700-b1e6f4f8a5a4c0e1-1")
        #expect(scope.traceID == "771a43a4192642f0b136d5159a501700" && scope.spanID.count == 16)
        for bad in ["771A43A4192642F0B136D5159A501700-b1e6f4f8a5a4c0e1", "00000000000000000000000000000000-b1e6f4f8a5a4c0e1", "nonsense", ""] {
            scope.startTrace(sentryTrace: bad)
            #expect(scope.traceID.count == 32 && scope.traceID != "771a43a4192642f0b136d5159a501700" && scope.traceID != first, "\(bad)")
            #expect(scope.traceID.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        }
    }

    @Test func aMissingOrMalformedDSNLeavesTheSDKOff() async {
        #expect(!SpyglassSDK.start { $0.dsn = nil })
        #expect(!SpyglassSDK.start { $0.dsn = "not a dsn" })
        #expect(!SpyglassSDK.isEnabled)
        #expect(SpyglassSDK.capture(message: "nowhere") == nil)
    }
}
