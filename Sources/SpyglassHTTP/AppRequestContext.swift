import Hummingbird
import NIOCore
import SpyglassCore

/// The request context of every Spyglass route.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's address (for `{{auto}}` user IPs).
    public let remoteAddress: SocketAddress?
    /// The user of the request's API token, once ``TokenAuthMiddleware`` checked it.
    public var user: APIUser?
    /// The browser session of a web UI request, once the web UI's session middleware found it.
    public var webSession: WebSession?
    /// What the authorization policy allowed, once the route's check passed.
    public var access: RequestAccess?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Ingest streams its bodies with its own limits; other routes use this cap for collected bodies.
    public var maxUploadSize: Int { 20 * 1024 * 1024 }
}
