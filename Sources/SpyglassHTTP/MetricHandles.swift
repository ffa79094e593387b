import Metrics
import Synchronization

/// Counters and timers by label and dimensions, each made once and then reused.
///
/// Making a `Counter` or `Timer` asks the metrics factory (Prometheus: a locked registry lookup that hashes the
/// label and every dimension) each time; the per-request ones are looked up here instead. Callers keep their
/// label sets bounded (routes, statuses, outcomes, projects a key was checked against, levels), so this stays
/// small.
final class MetricHandles: Sendable {
    private struct Key: Hashable {
        var label: String
        var dimensions: [String]

        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.flatMap { [$0.0, $0.1] }
        }
    }

    private let counters = Mutex<[Key: Counter]>([:])
    private let timers = Mutex<[Key: Timer]>([:])

    init() {}

    func counter(_ label: String, _ dimensions: [(String, String)], factory: any MetricsFactory) -> Counter {
        let key = Key(label, dimensions)
        if let counter = counters.withLock({ $0[key] }) { return counter }
        let counter = Counter(label: label, dimensions: dimensions, factory: factory)
        counters.withLock { $0[key] = counter }
        return counter
    }

    func timer(_ label: String, _ dimensions: [(String, String)], factory: any MetricsFactory) -> Timer {
        let key = Key(label, dimensions)
        if let timer = timers.withLock({ $0[key] }) { return timer }
        let timer = Timer(label: label, dimensions: dimensions, factory: factory)
        timers.withLock { $0[key] = timer }
        return timer
    }
}
