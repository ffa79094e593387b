import ServiceLifecycle

/// The SDK's worker as a swift-service-lifecycle `Service`, from ``SpyglassSDK/startService(_:)``.
///
/// `run()` sends what is captured until the group shuts down gracefully; then it sends what is still queued and
/// returns (the group's shutdown timeout, if it sets one, bounds that). Events captured after that are dropped.
/// Cancelling the group stops the sending: what is still queued goes to the spool. `SpyglassSDK.close()` (or a
/// new start) stops the worker too, but the service stays until the group shuts down: a service that returned
/// early would end the group.
public struct SpyglassService: Service {
    let client: Client?

    /// Whether the SDK is on (the DSN was usable).
    public var isEnabled: Bool { client != nil }

    public func run() async throws {
        guard let client else {
            // The SDK is off: nothing to send. A service that returned early would end the group.
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            await client.run()
        } onGracefulShutdown: {
            client.finishQueue()
        }
        // Stopped before the group's shutdown (SpyglassSDK.close, a new start): wait for it all the same.
        try? await gracefulShutdown()
    }
}
