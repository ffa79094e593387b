import Foundation
import SpyglassCore

/// The steps of a retention run, the same on every backend; the adapter gives the reads and the deleting
/// transactions. First each project's events older than its age limit, then the oldest of the projects over the
/// count limit, `batchSize` events per transaction, never a protected one (``protectedCondition``).
package enum RetentionRun {
    /// The SQL condition (on `event`) that leaves out the events retention keeps: pinned ones (regressions) and each
    /// issue's first and latest event.
    package static let protectedCondition = """
        pinned = 0 AND id NOT IN (SELECT first_event_id FROM issue WHERE first_event_id IS NOT NULL
            UNION ALL SELECT last_event_id FROM issue WHERE last_event_id IS NOT NULL)
        """

    /// Runs the steps; returns the number of events deleted.
    ///
    /// - Parameters:
    ///   - projects: every project's id and its own retention in days (nil: the server's).
    ///   - crowded: the projects with more events than the given number, and how many they have.
    ///   - deleteOlder: deletes up to `limit` unprotected events of a project older than `cutoff` (epoch seconds),
    ///     oldest first, in one transaction; returns how many.
    ///   - deleteOldest: deletes a project's `limit` oldest unprotected events in one transaction; returns how many.
    package static func run(
        _ policy: RetentionPolicy, now: Date, batchSize: Int,
        projects: () async throws -> [(id: Int64, retentionDays: Int64?)],
        crowded: (_ maxEvents: Int) async throws -> [(projectID: Int64, events: Int)],
        deleteOlder: (_ projectID: Int64, _ cutoff: Double, _ limit: Int) async throws -> Int,
        deleteOldest: (_ projectID: Int64, _ limit: Int) async throws -> Int
    ) async throws -> Int {
        var deleted = 0
        for (projectID, days) in try await projects() {
            // A project may keep events for less time than the server does (its settings), never longer.
            let maxAge = min(policy.maxAge, days.map { Double($0) * 86_400 } ?? policy.maxAge)
            let cutoff = now.timeIntervalSince1970 - maxAge
            while true {
                let count = try await deleteOlder(projectID, cutoff, batchSize)
                deleted += count
                if count < batchSize { break }
            }
        }
        for (projectID, events) in try await crowded(policy.maxEventsPerProject) {
            var excess = events - policy.maxEventsPerProject
            while excess > 0 {
                let count = try await deleteOldest(projectID, min(excess, batchSize))
                deleted += count
                excess -= count
                if count == 0 { break }  // only protected events are left
            }
        }
        return deleted
    }
}
