import ArgumentParser
import Foundation
import SpyglassCore
import SpyglassStorage

/// `spyglass user …`.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage user accounts.", subcommands: [Create.self, List.self])

    /// `spyglass user create`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user account.")

        @OptionGroup var store: StoreOptions
        @Option(help: "E-mail address, used to log in.") var email: String
        @Option(help: "Password (at least 8 characters).") var password: String
        @Flag(help: "Make the user an administrator.") var admin = false
        @Flag(help: "Print the new user as JSON.") var json = false

        func run() async throws {
            try await store.withStorage { storage, _ in
                let user = try await reporting {
                    try Password.validate(password)
                    return try await storage.accounts.createAccount(
                        email: email, passwordHash: Password.hash(password), isAdmin: admin, mustChangePassword: false, now: .now)
                }
                if json {
                    try printJSON(UserOutput(user))
                } else {
                    print("Created \(user.isAdmin ? "admin " : "")user \(user.email) (id \(user.id)).")
                }
            }
        }
    }

    /// `spyglass user list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List user accounts.")

        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() async throws {
            try await store.withStorage { storage, _ in
                let users = try await reporting { try await storage.accounts.accounts() }.sorted { $0.id < $1.id }
                if json {
                    try printJSON(users.map(UserOutput.init))
                } else {
                    printTable(
                        ["ID", "EMAIL", "ADMIN", "ACTIVE", "CREATED"],
                        users.map { user in
                            [
                                "\(user.id)", user.email, user.isAdmin ? "yes" : "no", user.isActive ? "yes" : "no",
                                user.createdAt.formatted(.iso8601),
                            ]
                        })
                }
            }
        }
    }
}

/// A user as `--json` shows it (never the password hash).
struct UserOutput: Encodable {
    var id: Int64
    var email: String
    var isAdmin: Bool
    var isActive: Bool
    var dateJoined: Date

    init(_ user: AccountInfo) {
        id = user.id
        email = user.email
        isAdmin = user.isAdmin
        isActive = user.isActive
        dateJoined = user.createdAt
    }
}
