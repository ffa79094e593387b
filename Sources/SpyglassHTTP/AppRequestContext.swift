import Hummingbird

/// The request context of every Spyglass route.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    /// Envelopes may be up to 20 MiB compressed (Relay's limit); routes check tighter limits themselves.
    public var maxUploadSize: Int { 20 * 1024 * 1024 }
}
