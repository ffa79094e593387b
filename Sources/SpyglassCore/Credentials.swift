import Foundation
import Crypto
import HummingbirdBcrypt

/// Password hashing (bcrypt) and checks on what a password and an e-mail address must look like.
public enum Password {
    /// bcrypt work factor: about 60 ms per hash on this class of machine. Hashing blocks its thread.
    public static let cost: UInt8 = 10
    /// Shortest password accepted.
    public static let minimumLength = 8

    /// Hashes `password` with bcrypt. Slow on purpose: never call it on an event loop.
    public static func hash(_ password: String) -> String {
        Bcrypt.hash(password, cost: cost)
    }

    /// Checks `password` against a stored bcrypt hash.
    public static func verify(_ password: String, hash: String) -> Bool {
        Bcrypt.verify(password, hash: hash)
    }

    /// Throws when `password` is too weak to store.
    public static func validate(_ password: String) throws(DomainError) {
        guard password.count >= minimumLength else {
            throw DomainError(.invalidInput, "password must be at least \(minimumLength) characters long")
        }
        // bcrypt reads at most 72 bytes; longer passwords would silently lose their tail.
        guard password.utf8.count <= 72 else {
            throw DomainError(.invalidInput, "password must be at most 72 bytes long")
        }
    }

    /// A random password of 20 characters from an alphabet without look-alikes (about 115 bits).
    public static func generate(using generator: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<20).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// A random password from the system's secure generator.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }
}

/// E-mail addresses of accounts.
public enum EmailAddress {
    /// Normalizes (trims, lower-cases) an address or throws when it is not one.
    public static func normalize(_ address: String) throws(DomainError) -> String {
        let trimmed = address.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, trimmed.count <= 254,
            !trimmed.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," })
        else {
            throw DomainError(.invalidInput, "\"\(address)\" is not an e-mail address")
        }
        return trimmed
    }
}

/// API tokens: 32 random bytes shown once as 64 hex digits (the format `sentry-cli` knows), stored as SHA-256.
public enum APIToken {
    /// A new token and the hash to store for it.
    public static func generate(
        using generator: inout some RandomNumberGenerator
    ) -> (token: String, hash: String) {
        let token = Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return (token, hash(token))
    }

    /// A new token from the system's secure generator.
    public static func generate() -> (token: String, hash: String) {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// The stored form of a token: its SHA-256 as hex.
    public static func hash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }
}
