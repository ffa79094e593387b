/// A dependency that must work for the server to accept traffic (`GET /readyz`).
public protocol ReadinessProbe: Sendable {
    /// Returns when the dependency is ready; throws a ``DomainError`` saying what is not.
    func checkReady() async throws
}
