import Foundation
import SpyglassCore

/// Where the PostgreSQL database is and how to reach it, parsed from a libpq-style URL:
///
/// ```
/// postgres://spyglass:s%40cret@db.internal:5432/spyglass?sslmode=verify-full
/// postgresql://spyglass@[::1]/spyglass
/// ```
///
/// User, password and database are percent-decoded; the port defaults to 5432, the database to the user name and
/// `sslmode` to `prefer`, as libpq does. `sslrootcert=PATH` names the certificates that `verify-ca` and
/// `verify-full` trust instead of the system's. Other parameters are refused rather than silently ignored.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// Whether and how the connection uses TLS; the names and meanings are libpq's.
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP, never TLS.
        case disable
        /// TLS when the server offers it, plain TCP otherwise; the certificate is not verified.
        case prefer
        /// TLS or no connection; the certificate is not verified (it only protects against passive listeners).
        case require
        /// TLS, with a certificate signed by a trusted authority for any host name.
        case verifyCA = "verify-ca"
        /// TLS, with a trusted certificate for this host name: the only mode that stops an active attacker.
        case verifyFull = "verify-full"
    }

    /// The host name or IP address (an IPv6 address without its brackets).
    public var host: String
    /// The TCP port, 1–65535.
    public var port: Int
    /// The role to log in as.
    public var user: String
    /// The password, if the server asks for one.
    public var password: String?
    /// The database; the user name when the URL names none (libpq's default).
    public var database: String
    /// The TLS mode.
    public var sslMode: SSLMode
    /// A PEM file of trusted root certificates for `verify-ca` and `verify-full` (`sslrootcert`); the system's when nil.
    public var sslRootCertificatePath: String?

    /// Creates a URL from its parts.
    public init(
        host: String, port: Int = 5432, user: String, password: String? = nil, database: String? = nil,
        sslMode: SSLMode = .prefer, sslRootCertificatePath: String? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database ?? user
        self.sslMode = sslMode
        self.sslRootCertificatePath = sslRootCertificatePath
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=…` (or `postgresql://…`).
    ///
    /// - Throws: `DomainError` of kind `.invalidInput` naming the part that is wrong; the message never contains
    ///   the password.
    public init(_ string: String) throws {
        self = try DatabaseURLParser.parse(string)
    }

    /// The URL with the password replaced by `***`: safe for logs and error messages.
    public var description: String { rendered(password: password.map { _ in "***" }) }

    /// The URL with its password, percent-encoded so that `DatabaseURL(_:)` reads it back: for child processes
    /// and tools, never for logs.
    public var urlString: String { rendered(password: password.map(Self.encode)) }

    private func rendered(password: String?) -> String {
        var text = "postgres://" + Self.encode(user)
        if let password { text += ":" + password }
        text += "@" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)/" + Self.encode(database)
        text += "?sslmode=\(sslMode.rawValue)"
        if let sslRootCertificatePath { text += "&sslrootcert=" + Self.encode(sslRootCertificatePath) }
        return text
    }

    /// RFC 3986's unreserved characters: everything else in a part is percent-encoded.
    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static func encode(_ part: String) -> String {
        part.addingPercentEncoding(withAllowedCharacters: unreserved) ?? part
    }
}
