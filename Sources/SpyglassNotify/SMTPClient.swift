import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// A small SMTP client on SwiftNIO: plain, STARTTLS or implicit TLS; AUTH PLAIN or LOGIN; one message per
/// connection (notifications are rare enough that pooling is not worth its failure modes).
public struct SMTPClient: Sendable {
    public let configuration: SMTPConfiguration
    let group: any EventLoopGroup
    /// The whole conversation's limit.
    let timeout: Duration

    public init(configuration: SMTPConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: Duration = .seconds(30)) {
        self.configuration = configuration
        self.group = group
        self.timeout = timeout
    }

    /// Sends `message` from `envelopeFrom` to every recipient of the message.
    public func send(_ message: MailMessage, date: Date = .now) async throws {
        let tls = try makeTLSContext()
        let configuration = configuration
        let bytes = Self.dotStuffed(message.rendered(date: date))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let channel = try await ClientBootstrap(group: self.group)
                    .connectTimeout(.seconds(10))
                    .connect(host: configuration.host, port: configuration.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            if configuration.security == .tls, let tls {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOSSLClientHandler(context: tls, serverHostname: Self.sniName(configuration.host)))
                            }
                            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                            return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                try await channel.executeThenClose { inbound, outbound in
                    var session = SMTPSession(lines: inbound.makeAsyncIterator(), outbound: outbound)
                    try await session.expect(220, after: nil)
                    var extensions = try await session.expect(250, after: "EHLO \(configuration.heloName)")
                    if configuration.security == .startTLS {
                        guard extensions.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else {
                            throw DeliveryError("the server does not offer STARTTLS (use smtp:// for a plain connection)", permanent: true)
                        }
                        try await session.expect(220, after: "STARTTLS")
                        guard let tls else { throw DeliveryError("no TLS context", permanent: true) }
                        let raw = channel.channel
                        try await raw.eventLoop.submit {
                            try raw.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: Self.sniName(configuration.host)), position: .first)
                        }.get()
                        extensions = try await session.expect(250, after: "EHLO \(configuration.heloName)")
                    }
                    if let user = configuration.username {
                        try await session.authenticate(
                            user: user, password: configuration.password ?? "", forced: configuration.authMechanism, offered: extensions)
                    }
                    try await session.expect(250, after: "MAIL FROM:<\(message.from)>")
                    for recipient in message.to {
                        try await session.expect([250, 251], after: "RCPT TO:<\(recipient)>")
                    }
                    try await session.expect(354, after: "DATA")
                    try await session.expect(250, raw: bytes + ".\r\n")
                    try? await session.send("QUIT")
                }
            }
            group.addTask {
                try await Task.sleep(for: self.timeout)
                throw DeliveryError("no answer from \(configuration.host):\(configuration.port) within \(self.timeout)")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func makeTLSContext() throws -> NIOSSLContext? {
        guard configuration.security != .none else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let file = configuration.trustRootsFile {
            tls.additionalTrustRoots = [.file(file)]
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw DeliveryError("TLS setup failed: \(error)", permanent: true)
        }
    }

    /// SNI takes names only, not IP addresses (NIOSSL then checks the certificate against the address).
    static func sniName(_ host: String) -> String? {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        if inet_pton(AF_INET, host, &ipv4) == 1 || inet_pton(AF_INET6, host, &ipv6) == 1 { return nil }
        return host
    }

    /// RFC 5321 4.5.2: a line that starts with a dot gets another one.
    static func dotStuffed(_ text: String) -> String {
        text.split(separator: "\r\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }
            .joined(separator: "\r\n")
    }
}

/// The conversation: commands out, multi-line replies in.
private struct SMTPSession {
    var lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    func send(_ command: String) async throws {
        try await outbound.write(ByteBuffer(string: command + "\r\n"))
    }

    /// Reads one reply: its code and the text of each line.
    mutating func reply() async throws -> (code: Int, lines: [String]) {
        var texts: [String] = []
        while true {
            guard let buffer = try await lines.next() else { throw DeliveryError("the server closed the connection") }
            let line = String(buffer: buffer)
            guard line.utf8.count >= 3, let code = Int(line.prefix(3)) else {
                throw DeliveryError("unexpected reply \"\(line.prefix(100))\"")
            }
            texts.append(String(line.dropFirst(4)))
            if line.utf8.count == 3 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { return (code, texts) }
        }
    }

    /// Sends `command` (if any) and checks the reply's code; returns the reply's lines.
    @discardableResult
    mutating func expect(_ codes: [Int], after command: String?) async throws -> [String] {
        if let command { try await send(command) }
        return try await check(codes, command: command)
    }

    @discardableResult
    mutating func expect(_ code: Int, after command: String?) async throws -> [String] {
        try await expect([code], after: command)
    }

    /// Sends raw bytes (the message) and checks the reply.
    mutating func expect(_ code: Int, raw: String) async throws {
        try await outbound.write(ByteBuffer(string: raw))
        try await check([code], command: "(message data)")
    }

    @discardableResult
    private mutating func check(_ codes: [Int], command: String?) async throws -> [String] {
        let (code, texts) = try await reply()
        guard codes.contains(code) else {
            // The verb only: never echo credentials.
            let verb = command?.split(separator: " ").first.map(String.init) ?? "greeting"
            throw DeliveryError(
                "\(verb) answered \(code) \(texts.joined(separator: " ").prefix(200))",
                permanent: (500..<600).contains(code))
        }
        return texts
    }

    mutating func authenticate(
        user: String, password: String, forced: SMTPConfiguration.AuthMechanism?, offered extensions: [String]
    ) async throws {
        let offered = Set(
            extensions.filter { $0.uppercased().hasPrefix("AUTH") }
                .flatMap { $0.uppercased().split(whereSeparator: { $0 == " " || $0 == "=" }).dropFirst().map(String.init) })
        let mechanism = forced ?? (offered.contains("PLAIN") || !offered.contains("LOGIN") ? .plain : .login)
        switch mechanism {
        case .plain:
            let token = Data(([0] + Array(user.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            try await send("AUTH PLAIN \(token)")
            try await check([235], command: "AUTH")
        case .login:
            try await expect(334, after: "AUTH LOGIN")
            try await send(Data(user.utf8).base64EncodedString())
            try await check([334], command: "AUTH")
            try await send(Data(password.utf8).base64EncodedString())
            try await check([235], command: "AUTH")
        }
    }
}

/// Splits the stream into lines (CRLF or LF), at most 8 KiB each.
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 8192 { throw DeliveryError("a reply line is longer than 8 KiB") }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard var line = buffer.readSlice(length: length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1) ?? line }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
