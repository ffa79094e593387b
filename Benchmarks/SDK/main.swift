// What the Swift SDK costs its host, on the caller's thread: `capture(error:)` (scope copy, stack
// addresses, queueing) and `addBreadcrumb`. Symbolication and sending happen on the SDK's worker and are not
// counted. Run in release: `swift run -c release SpyglassSDKBenchmark [--json FILE] [--iterations N]`.
import Foundation
import Spyglass
import SpyglassProtocol

/// Takes every envelope and drops it: the benchmark measures the caller, not the network.
struct NullTransport: Transport {
    func send(_ envelope: [UInt8], dsn: DSN) async -> TransportResult { .sent }
}

struct BenchError: Error {
    var code: Int
}

@inline(never) func handler(depth: Int, _ body: () -> Void) {
    if depth == 0 { body() } else { handler(depth: depth - 1, body) }
}


let arguments = CommandLine.arguments
let iterations = arguments.firstIndex(of: "--iterations").flatMap { Int(arguments[$0 + 1]) } ?? 20_000
let jsonPath = arguments.firstIndex(of: "--json").map { arguments[$0 + 1] }

SpyglassSDK.start { options in
    options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1"
    options.transport = NullTransport()
    options.maxQueueSize = iterations + 10
    options.spoolDisabled = true
    options.captureCrashes = false
}
SpyglassSDK.setTag("service", "bench")
SpyglassSDK.setUser(SpyglassUser(id: "42"))
for index in 0..<100 { SpyglassSDK.addBreadcrumb(Breadcrumb(message: "warm-up \(index)", category: "bench")) }

/// Median and 99th percentile of the per-call time (ns), from batches of 100 calls.
func measure(_ count: Int, _ body: () -> Void) -> (median: Double, p99: Double) {
    var samples: [Double] = []
    let clock = ContinuousClock()
    var done = 0
    while done < count {
        let start = clock.now
        for _ in 0..<100 { body() }
        let elapsed = clock.now - start
        samples.append(Double(elapsed.components.attoseconds) / 1e9 / 100 + Double(elapsed.components.seconds) * 1e9 / 100)
        done += 100
    }
    samples.sort()
    return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
}

let breadcrumb = measure(iterations) { SpyglassSDK.addBreadcrumb(Breadcrumb(message: "GET /orders", category: "http")) }
let captureError = measure(iterations) {
    handler(depth: 20) { SpyglassSDK.capture(error: BenchError(code: 7)) }
}
let captureMessage = measure(iterations) { SpyglassSDK.capture(message: "cache miss", level: .info) }

let rows: [(String, (median: Double, p99: Double), Double)] = [
    ("addBreadcrumb", breadcrumb, 1_000), ("capture(error:) 20 frames deep", captureError, 10_000),
    ("capture(message:)", captureMessage, 10_000),
]
print("Swift SDK, cost on the caller's thread (\(iterations) calls each)")
print("operation                         median      p99     target")
for (name, result, target) in rows {
    let verdict = result.median < target ? "ok" : "MISS"
    print(
        name.padding(toLength: 32, withPad: " ", startingAt: 0),
        String(format: "%7.2f µs %7.2f µs  < %4.0f µs %@", result.median / 1000, result.p99 / 1000, target / 1000, verdict))
}
let start = ContinuousClock.now
let flushed = await SpyglassSDK.flush(timeout: .seconds(60))
print(flushed ? "the worker handled every event in \(ContinuousClock.now - start)" : "the worker did not finish within 60 s")
if let jsonPath {
    let object: [String: Any] = Dictionary(uniqueKeysWithValues: rows.map { ($0.0, ["median_ns": $0.1.median, "p99_ns": $0.1.p99, "target_ns": $0.2]) })
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: jsonPath))
}
await SpyglassSDK.close()
