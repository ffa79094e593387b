import Foundation
import Logging
import ServiceLifecycle
import SpyglassCore

/// The periodic jobs, at start and then every interval: retention (``MaintenanceStore/enforceRetention(_:now:)``),
/// alert data pruning, issue aging and auto-resolve (``MaintenanceStore/agePeriodically(now:)``), and uploaded
/// chunks a day old (assembled or abandoned), on one node at a time when several share a database
/// (``MaintenanceStore/exclusively(_:)``).
public struct MaintenanceService: Service {
    let database: any MaintenanceStore
    let artifacts: (any ArtifactStore)?
    let policy: RetentionPolicy
    let logger: Logger
    /// How long an uploaded chunk is kept: sentry-cli assembles a bundle right after uploading its chunks.
    static let chunkAge: TimeInterval = 86_400

    public init(database: any MaintenanceStore, artifacts: (any ArtifactStore)? = nil, policy: RetentionPolicy, logger: Logger) {
        self.artifacts = artifacts
        self.database = database
        self.policy = policy
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let ran = try await database.exclusively {
                    let deleted = try await database.enforceRetention(policy, now: .now)
                    if deleted > 0 { logger.info("retention deleted events", metadata: ["spyglass.deleted": "\(deleted)"]) }
                    _ = try await database.pruneAlertData(now: .now, maxAge: policy.maxAge)
                    let changed = try await database.agePeriodically(now: .now)
                    if changed > 0 { logger.info("issues aged or auto-resolved", metadata: ["spyglass.issues": "\(changed)"]) }
                    _ = try await artifacts?.pruneChunks(before: Date.now.addingTimeInterval(-Self.chunkAge))
                }
                if !ran { logger.debug("maintenance skipped: another node is running it") }
            } catch {
                logger.error("maintenance failed", metadata: ["error": "\(error)"])
            }
            let interval = policy.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
