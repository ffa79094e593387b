import Foundation
import SpyglassCore

/// Where and how to send mail, from `SPYGLASS_SMTP_URL`:
/// `smtp://host:25` (no TLS), `smtp+starttls://user:pass@host:587` (STARTTLS required),
/// `smtps://user:pass@host:465` (TLS from the first byte). `?auth=plain|login` picks the AUTH mechanism
/// (default: PLAIN when offered, else LOGIN). User and password are percent-decoded.
public struct SMTPConfiguration: Sendable, Hashable {
    public enum Security: String, Sendable, Hashable {
        case none
        case startTLS
        case tls
    }

    public enum AuthMechanism: String, Sendable, Hashable {
        case plain
        case login
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// Forced AUTH mechanism; nil picks from what the server offers.
    public var authMechanism: AuthMechanism?
    /// PEM file with extra CA certificates trusted for the server's certificate (`SPYGLASS_SMTP_CA_FILE`).
    public var trustRootsFile: String?
    /// The name sent with EHLO.
    public var heloName: String

    public init(
        host: String, port: Int, security: Security, username: String? = nil, password: String? = nil,
        authMechanism: AuthMechanism? = nil, trustRootsFile: String? = nil, heloName: String = "spyglass.localdomain"
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.authMechanism = authMechanism
        self.trustRootsFile = trustRootsFile
        self.heloName = heloName
    }

    /// Parses `SPYGLASS_SMTP_URL`; the error says what is wrong (the password is never echoed).
    public init(url text: String, trustRootsFile: String? = nil) throws(DomainError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw DomainError(.invalidInput, "not a URL like smtp+starttls://user:pass@host:587")
        }
        let security: Security
        let defaultPort: Int
        switch scheme {
        case "smtp": (security, defaultPort) = (.none, 25)
        case "smtp+starttls": (security, defaultPort) = (.startTLS, 587)
        case "smtps", "smtp+tls": (security, defaultPort) = (.tls, 465)
        default: throw DomainError(.invalidInput, "scheme \"\(scheme)\" is not one of smtp, smtp+starttls, smtps")
        }
        guard let host = components.host, !host.isEmpty else { throw DomainError(.invalidInput, "the URL has no host") }
        var mechanism: AuthMechanism?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "auth":
                guard let parsed = AuthMechanism(rawValue: (item.value ?? "").lowercased()) else {
                    throw DomainError(.invalidInput, "auth=\(item.value ?? "") is not one of plain, login")
                }
                mechanism = parsed
            default: throw DomainError(.invalidInput, "unknown parameter \"\(item.name)\" (known: auth)")
            }
        }
        let user = components.percentEncodedUser.map { $0.removingPercentEncoding ?? $0 }
        let password = components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        if user != nil, password == nil { throw DomainError(.invalidInput, "a user needs a password (user:pass@host)") }
        self.init(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: components.port ?? defaultPort,
            security: security, username: user, password: password, authMechanism: mechanism, trustRootsFile: trustRootsFile,
            heloName: ProcessInfo.processInfo.hostName.isEmpty ? "spyglass.localdomain" : ProcessInfo.processInfo.hostName)
    }
}
