import Spyglass
import SpyglassProtocol
import Synchronization

/// A transport that keeps what the SDK sends, for tests: `options.transport = TestTransport()`, then look at
/// ``events`` after `await SpyglassSDK.flush()`.
public final class TestTransport: Transport, Sendable {
    private let state = Mutex<(envelopes: [Envelope], results: [TransportResult])>(([], []))

    public init() {}

    /// What the next sends answer, in order (then `.sent`): to test rate limits and outages.
    public func answer(_ results: TransportResult...) {
        state.withLock { $0.results += results }
    }

    public func send(_ envelope: [UInt8], dsn: DSN) async -> TransportResult {
        let limits = EnvelopeReader.Limits(keptItems: [.event: 10 << 20, .clientReport: 1 << 20, .attachment: 10 << 20, .log: 10 << 20])
        let parsed = try? Envelope.parse(envelope, limits: limits)
        return state.withLock { state in
            let result = state.results.isEmpty ? TransportResult.sent : state.results.removeFirst()
            if result == .sent, let parsed { state.envelopes.append(parsed) }
            return result
        }
    }

    /// Every envelope received, in order.
    public var envelopes: [Envelope] { state.withLock { $0.envelopes } }

    /// The event payloads received, in order.
    public var events: [JSONValue] {
        envelopes.flatMap { $0.items.filter { $0.knownType == .event } }.compactMap { try? JSONParser.parse($0.payload) }
    }

    /// The log lines received (each `log` item's `items`), in order.
    public var logs: [JSONValue] {
        envelopes.flatMap { $0.items.filter { $0.knownType == .log } }.compactMap { try? JSONParser.parse($0.payload) }
            .flatMap { $0["items"]?.arrayValue ?? [] }
    }

    /// The client reports received (dropped-event counts).
    public var clientReports: [JSONValue] {
        envelopes.flatMap { $0.items.filter { $0.knownType == .clientReport } }.compactMap { try? JSONParser.parse($0.payload) }
    }

    public func reset() { state.withLock { $0 = ([], []) } }
}
