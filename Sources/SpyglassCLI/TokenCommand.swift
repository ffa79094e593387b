import ArgumentParser
import Foundation
import SpyglassCore
import SpyglassStorage

/// `spyglass token …`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Manage API tokens.", subcommands: [Create.self])

    /// `spyglass token create`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API token for a user.",
            discussion: """
                The token is printed once, alone on the last line of output, and stored only as its \
                SHA-256. Use it as `Authorization: Bearer <token>` or as SENTRY_AUTH_TOKEN for sentry-cli.
                """)

        @OptionGroup var store: StoreOptions
        @Option(help: ArgumentHelp("E-mail of the user the token acts as.", valueName: "email")) var user: String
        @Option(help: "A name to recognize the token by.") var name = "cli"
        @Option(help: "What the token may do: read, write (triage, releases, alert rules) or admin (all its user may).")
        var scope: String = "admin"
        @Flag(help: "Print the token and its metadata as JSON.") var json = false

        func run() async throws {
            try await store.withStorage { storage, _ in
                let (token, hash) = APIToken.generate()
                let record = try await reporting {
                    guard let scope = TokenScope(rawValue: scope) else {
                        throw DomainError(.invalidInput, "--scope: expected read, write or admin, not \"\(scope)\"")
                    }
                    guard let account = try await storage.accounts.account(email: user) else {
                        throw DomainError(.notFound, "no user with e-mail \(user)")
                    }
                    return try await storage.accounts.createAPIToken(userID: account.user.id, name: name, tokenHash: hash, scope: scope, now: .now)
                }
                if json {
                    try printJSON(TokenOutput(id: record.id, name: record.name, token: token, dateCreated: record.createdAt))
                } else {
                    print("Created API token \"\(record.name)\" for \(user). It is shown only this once:")
                    print(token)
                }
            }
        }
    }
}

struct TokenOutput: Encodable {
    var id: Int64
    var name: String
    var token: String
    var dateCreated: Date
}
