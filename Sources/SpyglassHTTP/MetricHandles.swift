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

    private struct Tables {
        var counters: [Key: Counter] = [:]
        var timers: [Key: Timer] = [:]
    }

    private let tables = Mutex(Tables())

    init() {}

    func counter(_ label: String, _ dimensions: [(String, String)], factory: any MetricsFactory) -> Counter {
        handle(\.counters, Key(label, dimensions)) { Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    func timer(_ label: String, _ dimensions: [(String, String)], factory: any MetricsFactory) -> Timer {
        handle(\.timers, Key(label, dimensions)) { Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    private func handle<T: Sendable>(_ table: WritableKeyPath<Tables, [Key: T]>, _ key: Key, make: () -> T) -> T {
        if let found = tables.withLock({ $0[keyPath: table][key] }) { return found }
        let made = make()
        tables.withLock { $0[keyPath: table][key] = made }
        return made
    }
}
