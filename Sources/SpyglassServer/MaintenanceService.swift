import Foundation
import Logging
import ServiceLifecycle
import SpyglassCore

/// The periodic jobs, at start and then every interval: retention (``MaintenanceStore/enforceRetention(_:now:)``),
/// log retention (``LogStore/pruneLogs(defaultDays:now:batch:)``), alert data pruning, issue aging and
/// auto-resolve (``MaintenanceStore/agePeriodically(now:)``), and uploaded chunks a day old (assembled or
/// abandoned), on one node at a time when several share a database (``MaintenanceStore/exclusively(_:)``).
public struct MaintenanceService: Service {
    let database: any MaintenanceStore
    let artifacts: (any ArtifactStore)?
    let logs: (any LogStore)?
    let policy: RetentionPolicy
    let logger: Logger
    /// How long an uploaded chunk is kept: sentry-cli assembles a bundle right after uploading its chunks.
    static let chunkAge: TimeInterval = 86_400

    /// Log lines deleted per call to ``LogStore/pruneLogs(defaultDays:now:batch:)``: the writer takes ingest
    /// between the batches.
    static let logBatch = 5_000
    /// How long one run deletes log lines at most.
    static let logTimeLimit: Duration = .seconds(60)
    /// The pause before the next run while log lines are left past their limits.
    static let catchUpInterval: Duration = .seconds(60)

    public init(
        database: any MaintenanceStore, artifacts: (any ArtifactStore)? = nil, logs: (any LogStore)? = nil, policy: RetentionPolicy,
        logger: Logger
    ) {
        self.artifacts = artifacts
        self.logs = logs
        self.database = database
        self.policy = policy
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var logsBehind = false
            do {
                let ran = try await database.exclusively {
                    let deleted = try await database.enforceRetention(policy, now: .now)
                    if deleted > 0 { logger.info("retention deleted events", metadata: ["spyglass.deleted": "\(deleted)"]) }
                    _ = try await database.pruneAlertData(now: .now, maxAge: policy.maxAge)
                    let changed = try await database.agePeriodically(now: .now)
                    if changed > 0 { logger.info("issues aged or auto-resolved", metadata: ["spyglass.issues": "\(changed)"]) }
                    _ = try await artifacts?.pruneChunks(before: Date.now.addingTimeInterval(-Self.chunkAge))
                    let (lines, behind) = try await pruneLogs()
                    logsBehind = behind
                    if lines > 0 { logger.info("retention deleted log lines", metadata: ["spyglass.deleted": "\(lines)"]) }
                }
                if !ran { logger.debug("maintenance skipped: another node is running it") }
            } catch {
                logger.error("maintenance failed", metadata: ["error": "\(error)"])
            }
            // Log lines left past their limits (the run's time was up): the next run comes within a minute.
            let interval = logsBehind ? min(policy.interval, Self.catchUpInterval) : policy.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Log retention in batches until a batch comes back short, shutdown begins, or ``logTimeLimit`` passed (the
    /// rest is for the next run, which then comes within ``catchUpInterval``: lines arriving as fast as they go
    /// never hold the jobs, nor another node waiting). Returns the lines deleted and whether some are left.
    func pruneLogs() async throws -> (deleted: Int, behind: Bool) {
        guard let logs else { return (0, false) }
        var total = 0
        let deadline = ContinuousClock.now + Self.logTimeLimit
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let deleted = try await logs.pruneLogs(defaultDays: policy.logDays, now: .now, batch: Self.logBatch)
            total += deleted
            if deleted < Self.logBatch { return (total, false) }
            if ContinuousClock.now >= deadline { return (total, true) }
        }
        return (total, false)
    }
}
