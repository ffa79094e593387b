/// An active client key as ingest sees it.
public struct ClientKey: Sendable, Hashable {
    public var publicKey: String
    public var projectID: Int64
    /// Events per minute this key may send; `nil` for no limit.
    public var rateLimitPerMinute: Int?

    public init(publicKey: String, projectID: Int64, rateLimitPerMinute: Int?) {
        self.publicKey = publicKey
        self.projectID = projectID
        self.rateLimitPerMinute = rateLimitPerMinute
    }
}

/// Where ingest learns the active client keys (the database), and whether they changed.
public protocol KeyDirectory: Sendable {
    /// A number that changes whenever any key is added, changed or removed (by any process).
    func keysVersion() async throws -> Int64
    /// Every active key.
    func activeKeys() async throws -> [ClientKey]
}
