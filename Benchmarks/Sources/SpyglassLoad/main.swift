import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// spyglass-load: the ingest load generator.
///
///     spyglass-load load --url http://127.0.0.1:8000 --key KEY --project 1 --templates t.json \
///         --concurrency 32 --duration 10 [--path envelope|null] [--new-ratio 0.1] [--rate 1000] [--window 30]
///     spyglass-load sqlite-ceiling --templates t.json --database /tmp/x.sqlite --duration 5
///
/// Prints one JSON object on stdout (and, with --rate, one line per window on stderr: the requests of every worker
/// answered in that window).
struct Options {
    var values: [String: String] = [:]
    var command = "load"

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()
        if let first = rest.first, !first.hasPrefix("--") {
            command = first
            rest = rest.dropFirst()
        }
        while let flag = rest.first {
            rest = rest.dropFirst()
            guard flag.hasPrefix("--"), let value = rest.first else { throw LoadError("expected --flag value, got \(flag)") }
            rest = rest.dropFirst()
            values[String(flag.dropFirst(2))] = value
        }
    }

    func string(_ name: String, _ fallback: String? = nil) throws -> String {
        guard let value = values[name] ?? fallback else { throw LoadError("missing --\(name)") }
        return value
    }

    func number(_ name: String, _ fallback: Double) throws -> Double {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text) else { throw LoadError("--\(name): not a number: \(text)") }
        return value
    }
}

struct Stats {
    var latencies: [Double] = []
    var errors: [String: Int] = [:]
    var accepted = 0

    mutating func merge(_ other: Stats) {
        latencies += other.latencies
        accepted += other.accepted
        for (key, count) in other.errors { errors[key, default: 0] += count }
    }

    func summary(seconds: Double) -> [String: Any] {
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
        return [
            "requests": latencies.count, "accepted": accepted, "seconds": seconds,
            "events_per_second": Double(accepted) / seconds,
            "latency_ms": ["p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "max": sorted.last ?? 0],
            "errors": errors,
        ]
    }
}

/// The answers of all workers by the window they came in (with --rate), so a window's percentiles are over all its
/// requests. Worker 0's own are kept beside them: the soak reported only those before (1/16 of the requests, where
/// the 19th slowest of ~1 900 made a window's p99).
final class Windows: Sendable {
    struct Window: Sendable {
        var all = Stats()
        var first: [Double] = []
    }

    let start: ContinuousClock.Instant
    let length: Duration
    private let windows = Mutex<[Int: Window]>([:])

    init(start: ContinuousClock.Instant, length: Duration) {
        self.start = start
        self.length = length
    }

    func record(worker: Int, latency: Double, outcome: String?) {
        let index = Int((ContinuousClock.now - start) / length)
        windows.withLock { windows in
            windows[index, default: Window()].all.latencies.append(latency)
            if let outcome {
                windows[index, default: Window()].all.errors[outcome, default: 0] += 1
            } else {
                windows[index, default: Window()].all.accepted += 1
            }
            if worker == 0 { windows[index, default: Window()].first.append(latency) }
        }
    }

    /// Writes one line per window to stderr as each ends, until `deadline` (a last, partial window is not written).
    func report(until deadline: ContinuousClock.Instant) async throws {
        var index = 0
        while start + length * (index + 1) <= deadline {
            try await Task.sleep(until: start + length * (index + 1))
            let window = windows.withLock { $0.removeValue(forKey: index) } ?? Window()
            var line = window.all.summary(seconds: length / .seconds(1))
            line["elapsed"] = length * (index + 1) / .seconds(1)
            line["worker0_latency_ms"] = Stats(latencies: window.first).summary(seconds: 1)["latency_ms"]
            if let data = try? JSONSerialization.data(withJSONObject: line) {
                FileHandle.standardError.write(data + Data("\n".utf8))
            }
            index += 1
        }
    }
}

func runLoad(_ options: Options) async throws -> [String: Any] {
    let base = try options.string("url")
    let key = try options.string("key")
    let project = try options.string("project", "1")
    let path = try options.string("path", "envelope")
    let concurrency = Int(try options.number("concurrency", 8))
    let duration = try options.number("duration", 10)
    let rate = try options.number("rate", 0)
    let window = try options.number("window", 30)
    let factory = try EnvelopeFactory(templatesPath: try options.string("templates"), newIssueRatio: try options.number("new-ratio", 0.1))
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(concurrency, 8)
    configuration.timeout.connect = .seconds(5)
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    let url = "\(base)/api/\(project)/\(path)/"
    let auth = "Sentry sentry_key=\(key), sentry_version=7, sentry_client=spyglass-load/1.0"
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int64(duration * 1000))
    // With --rate, each worker sends one request per `interval`, staggered: a steady total rate.
    let interval: Duration? = rate > 0 ? .nanoseconds(Int64(Double(concurrency) / rate * 1e9)) : nil

    let windows = interval.map { _ in Windows(start: start, length: .milliseconds(Int64(window * 1000))) }
    let total = try await withThrowingTaskGroup(of: Stats.self) { group in
        if let windows {
            group.addTask {
                try await windows.report(until: deadline)
                return Stats()
            }
        }
        for worker in 0..<concurrency {
            group.addTask {
                var generator = SystemRandomNumberGenerator()
                var stats = Stats()
                var next = start + (interval.map { $0 * Double(worker) / Double(concurrency) } ?? .zero)
                while ContinuousClock.now < deadline {
                    if let interval {
                        if next > ContinuousClock.now { try await Task.sleep(until: next) }
                        next += interval
                    }
                    let (body, _) = factory.body(using: &generator)
                    var request = HTTPClientRequest(url: url)
                    request.method = .POST
                    request.headers.add(name: "X-Sentry-Auth", value: auth)
                    request.headers.add(name: "Content-Type", value: "application/x-sentry-envelope")
                    request.headers.add(name: "Content-Encoding", value: "gzip")
                    request.body = .bytes(ByteBuffer(bytes: body))
                    let sent = ContinuousClock.now
                    do {
                        let response = try await client.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1024 * 1024)
                        let elapsed = (ContinuousClock.now - sent) / .milliseconds(1)
                        stats.latencies.append(elapsed)
                        let outcome = response.status.code == 200 ? nil : "\(response.status.code)"
                        if let outcome { stats.errors[outcome, default: 0] += 1 } else { stats.accepted += 1 }
                        windows?.record(worker: worker, latency: elapsed, outcome: outcome)
                    } catch {
                        let elapsed = (ContinuousClock.now - sent) / .milliseconds(1)
                        stats.latencies.append(elapsed)
                        stats.errors["\(type(of: error))", default: 0] += 1
                        windows?.record(worker: worker, latency: elapsed, outcome: "\(type(of: error))")
                    }
                }
                return stats
            }
        }
        var total = Stats()
        for try await stats in group { total.merge(stats) }
        return total
    }
    let seconds = (ContinuousClock.now - start) / .seconds(1)
    try await client.shutdown()
    var summary = total.summary(seconds: seconds)
    summary["concurrency"] = concurrency
    summary["path"] = path
    summary["body_bytes_uncompressed"] = factory.typicalSize
    return summary
}

let options = try Options(CommandLine.arguments)
let result: [String: Any]
switch options.command {
case "load": result = try await runLoad(options)
case "sqlite-ceiling": result = try sqliteCeiling(options)
default: throw LoadError("unknown command \(options.command): use load or sqlite-ceiling")
}
let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: data, as: UTF8.self))
