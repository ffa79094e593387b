import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import SpyglassProtocol

/// What one client connection may hold on to: the server's defence against slow or oversized requests.
///
/// - A request head must arrive within ``headerTimeout`` of the connection opening (a client that sends half a
///   header and waits holds a connection and a file descriptor); after that, Hummingbird's idle timeout closes a
///   connection that sends nothing for ``idleTimeout`` (between requests, or in a stalled body).
/// - At most ``maxConnections`` are open: beyond, the server stops accepting (clients wait in the kernel's backlog)
///   and logs that once, until a connection closes.
/// - A header (name or value) over 16 KiB, or 64 KiB of headers in all, is answered `431`.
public struct ConnectionLimits: Sendable {
    /// Seconds a new connection has to send a whole request head (`SPYGLASS_HEADER_TIMEOUT`, default 30).
    public var headerTimeout: Double = 30
    /// Seconds a connection may stay silent between requests or within a body (`SPYGLASS_IDLE_TIMEOUT`, default 75).
    public var idleTimeout: Double = 75
    /// Open connections at most (`SPYGLASS_MAX_CONNECTIONS`; default 4096, or fewer when the process may open
    /// fewer files).
    public var maxConnections: Int = ConnectionLimits.defaultMaxConnections
    /// The longest header name or value, and all headers together.
    public var maxHeaderField = 16 * 1024
    public var maxHeaderList = 64 * 1024

    public init() {}

    /// 4096, or the open-file limit less 128 for the database, logs and outgoing connections.
    public static var defaultMaxConnections: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        let files = Int(clamping: limit.rlim_cur)
        return max(16, min(4096, files - 128))
    }

    /// The HTTP/1 channel with these limits.
    public func http1(logger: Logger) -> HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                HeaderOverflowResponder(), HeaderReadTimeoutHandler(timeout: Self.amount(headerTimeout), logger: logger),
            ],
            idleTimeout: Self.amount(idleTimeout),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: maxHeaderField, maxHeaderListSize: maxHeaderList, maxHeaderFieldCount: 200))
    }

    /// The open-connection cap, for `ApplicationConfiguration.availableConnectionsDelegate`.
    public func connectionCap(logger: Logger) -> some AvailableConnectionsDelegate {
        LoggingConnectionLimit(maximum: maxConnections, logger: logger)
    }

    private static func amount(_ seconds: Double) -> TimeAmount {
        .milliseconds(Int64(saturating: seconds * 1000))
    }
}

/// Closes a connection whose first request head has not arrived within the timeout. Later requests on the
/// connection are bounded by the idle timeout, which also runs from the previous response.
final class HeaderReadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private let logger: Logger
    private var timer: Scheduled<Void>?
    private var headSeen = false

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            headSeen = true
            disarm()
        }
        context.fireChannelRead(data)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard timer == nil, !headSeen else { return }
        let logger = logger
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.timer = nil
            logger.debug("no request head within the header timeout: closing the connection")
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

/// Answers `431` when the request head is over the decoder's size limits (Hummingbird would answer a bare 400).
final class HeaderOverflowResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, parserError == .headerOverflow else {
            context.fireErrorCaught(error)
            return
        }
        let message = ByteBuffer(string: "request headers too large: at most 16 KiB a header, 64 KiB in all\n")
        let head = HTTPResponse(
            status: .requestHeaderFieldsTooLarge,
            headerFields: [
                .connection: "close", .contentType: "text/plain; charset=utf-8", .contentLength: "\(message.readableBytes)",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(message)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        // Not passed on: Hummingbird would answer 400 as well.
    }
}

/// The open-connection cap, with a log line when it is reached and when it is left. Runs on the listening
/// channel's event loop.
struct LoggingConnectionLimit: AvailableConnectionsDelegate {
    let maximum: Int
    let logger: Logger
    var open = 0
    var atLimit = false

    init(maximum: Int, logger: Logger) {
        self.maximum = maximum
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        if open >= maximum, !atLimit {
            atLimit = true
            logger.warning(
                "connection limit reached: new connections wait until one closes",
                metadata: ["spyglass.connections": "\(open)", "spyglass.max_connections": "\(maximum)"])
        }
    }

    mutating func connectionClosed() {
        open -= 1
        if open < maximum, atLimit {
            atLimit = false
            logger.info("below the connection limit again", metadata: ["spyglass.connections": "\(open)"])
        }
    }

    func isAcceptingNewConnections() -> Bool { open < maximum }
}

/// A request body that breaks off (the client half-closed before its `Content-Length`) is a `400` with a
/// message, not a 500.
public struct TruncatedBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPParserError {
            throw HTTPError(.badRequest, message: "malformed or truncated request body (\(error.debugDescription))")
        }
    }
}
