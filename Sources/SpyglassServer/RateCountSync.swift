import Foundation
import Logging
import ServiceLifecycle
import SpyglassCore

/// Once a second, publishes what this node admitted per rate-limited key in the current minute and learns what the
/// other nodes on the database admitted (``RateCountExchange``), so a key's limit holds across nodes, approximately
/// (``RateLimiter``). Runs only where nodes can share a database (PostgreSQL).
struct RateCountSync: Service {
    let limiter: SharedRateLimiter
    let exchange: any RateCountExchange
    let logger: Logger
    /// This process, among the nodes: new at every start (a restarted node's old counts age out with their minute).
    let node = UUID().uuidString.lowercased()
    let interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let minute = RateLimiter.minute(.now)
            do {
                let others = try await exchange.exchangeRateCounts(
                    node: node, minute: minute, counts: limiter.counts(minute: minute))
                limiter.setOthers(others, minute: minute)
            } catch {
                logger.warning("rate counts were not exchanged with the other nodes", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
