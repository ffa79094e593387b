import Foundation
import SpyglassCore

/// Reads libpq's URL form by hand: `URLComponents` would accept what libpq refuses (no host, a port of 0) and says
/// nothing about which part is wrong. Messages name the part and never repeat the password.
enum DatabaseURLParser {
    static let expected = "expected postgres://user:password@host:port/database?sslmode=prefer"

    static func parse(_ string: String) throws -> DatabaseURL {
        let text = string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let schemeEnd = text.range(of: "://") else { throw invalid(expected) }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("\(expected) (the scheme is '\(scheme)')")
        }
        var rest = text[schemeEnd.upperBound...]
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var authority = rest
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }

        // The last "@" separates the user information, so an unencoded "@" in a password still parses.
        var user = "", password: String?
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try decode(userInfo[..<colon], "the user name")
                password = try decode(userInfo[userInfo.index(after: colon)...], "the password")
            } else {
                user = try decode(userInfo, "the user name")
            }
        }
        guard !user.isEmpty else { throw invalid("the user name is missing (\(expected))") }

        let (host, port) = try hostAndPort(authority)
        let database = try decode(path, "the database name")
        guard !database.contains("/") else { throw invalid("the database name '\(database)' contains '/'") }

        var url = DatabaseURL(
            host: host, port: port, user: user, password: password, database: database.isEmpty ? nil : database)
        for parameter in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try decode(pair[0], "a parameter name")
            let value = try decode(pair.count > 1 ? pair[1] : "", "the parameter \(name)")
            switch name {
            case "sslmode":
                guard let mode = DatabaseURL.SSLMode(rawValue: value) else {
                    let modes = DatabaseURL.SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw invalid("unknown sslmode '\(value)' (expected one of \(modes))")
                }
                url.sslMode = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw invalid("sslrootcert is empty (expected the path of a PEM file)") }
                url.sslRootCertificatePath = value
            default:
                throw invalid("unknown parameter '\(name)' (understood: sslmode, sslrootcert)")
            }
        }
        return url
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func hostAndPort(_ authority: Substring) throws -> (String, Int) {
        var host: Substring
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw invalid("the IPv6 address has no closing ']'")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected '\(after)' after the IPv6 address") }
                port = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw invalid("the host is missing (\(expected))") }
        let decodedHost = try decode(host, "the host")
        guard let port else { return (decodedHost, 5432) }
        guard port.allSatisfy(\.isASCII), let number = Int(port), (1...65535).contains(number) else {
            throw invalid("the port must be 1–65535, got '\(port)'")
        }
        return (decodedHost, number)
    }

    private static func decode(_ part: Substring, _ name: String) throws -> String {
        guard let decoded = String(part).removingPercentEncoding else {
            throw invalid("\(name) has an invalid percent-escape")
        }
        return decoded
    }

    private static func invalid(_ message: String) -> DomainError {
        DomainError(.invalidInput, "database URL: \(message)")
    }
}
