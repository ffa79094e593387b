import Foundation

/// A Sentry Data Source Name: where an SDK sends events and with which key.
///
/// ```
/// http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/1
/// scheme://public_key[:secret_key]@host[:port][/path]/project_id
/// ```
/// The secret key is legacy; it is parsed and kept but never needed.
public struct DSN: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`.
    public var scheme: String
    /// The project key's public part, sent as `sentry_key`.
    public var publicKey: String
    /// The legacy secret part, if the DSN had one.
    public var secretKey: String?
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    /// Explicit port, if any.
    public var port: Int?
    /// Path prefix before the project id, without leading or trailing slash ("" for none).
    public var pathPrefix: String
    /// The project id: the last path component.
    public var projectID: String

    /// Builds a DSN from its parts.
    public init(
        scheme: String, publicKey: String, secretKey: String? = nil, host: String, port: Int? = nil,
        pathPrefix: String = "", projectID: String
    ) {
        self.scheme = scheme
        self.publicKey = publicKey
        self.secretKey = secretKey
        self.host = host
        self.port = port
        self.pathPrefix = pathPrefix
        self.projectID = projectID
    }

    /// Builds the DSN of a project key on a server reachable at `baseURL` (e.g. `http://127.0.0.1:8000`).
    public init?(baseURL: URL, publicKey: String, projectID: Int) {
        guard let scheme = baseURL.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = baseURL.host(percentEncoded: false), !host.isEmpty
        else { return nil }
        let prefix = baseURL.path(percentEncoded: false).split(separator: "/").joined(separator: "/")
        self.init(
            scheme: scheme, publicKey: publicKey, host: Self.unbracketed(host), port: baseURL.port, pathPrefix: prefix,
            projectID: String(projectID))
    }

    /// Parses a DSN string; `nil` when it is not one.
    public init?(_ string: String) {
        guard let components = URLComponents(string: string.trimmingCharacters(in: .whitespaces)),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let user = components.percentEncodedUser, !user.isEmpty,
            let host = components.host, !host.isEmpty
        else { return nil }
        var parts = components.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let projectID = parts.popLast(), !projectID.isEmpty else { return nil }
        self.init(
            scheme: scheme, publicKey: user, secretKey: components.percentEncodedPassword, host: Self.unbracketed(host),
            port: components.port, pathPrefix: parts.joined(separator: "/"), projectID: projectID)
    }

    /// IPv6 hosts are kept without brackets (Foundation returns them with brackets on some platforms).
    private static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// The DSN as text, the form SDKs take.
    public var description: String {
        var text = "\(scheme)://\(publicKey)"
        if let secretKey { text += ":\(secretKey)" }
        text += "@\(host.contains(":") ? "[\(host)]" : host)"
        if let port { text += ":\(port)" }
        text += "/"
        if !pathPrefix.isEmpty { text += "\(pathPrefix)/" }
        return text + projectID
    }

    /// The envelope endpoint an SDK posts to; `nil` if the parts do not form a URL.
    public var envelopeURL: URL? {
        var text = "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)"
        if let port { text += ":\(port)" }
        text += "/"
        if !pathPrefix.isEmpty { text += "\(pathPrefix)/" }
        return URL(string: text + "api/\(projectID)/envelope/")
    }
}
