/// The first/last event times a writer batch wrote for a row (a release, a release's environment), and those seen
/// since in the batch: the batch writes the widened range once, before its commit.
package struct EventTimeSpan: Equatable {
    package var written: ClosedRange<Double>
    package var seen: ClosedRange<Double>

    package init(_ timestamp: Double) {
        written = timestamp...timestamp
        seen = written
    }

    /// A row written with the range `written` (the times of the events a batch has already gathered).
    package init(written: ClosedRange<Double>) {
        self.written = written
        seen = written
    }

    package mutating func widen(_ timestamp: Double) {
        seen = min(seen.lowerBound, timestamp)...max(seen.upperBound, timestamp)
    }

    /// Whether events seen since the row was written lie outside what it holds.
    package var isWidened: Bool { seen != written }
}
