import ArgumentParser
import Foundation
import SpyglassCore
import SpyglassStorage

/// `spyglass backup`.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database, safe while the server runs.",
        discussion: "Uses SQLite's online backup. The file must not exist yet; restore by putting it in place of \(AppDatabase.fileName) while the server is stopped.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "Path of the backup file to write.") var file: String

    func run() async throws {
        try await store.withStorage { storage, _ in
            let destination = URL(filePath: file)
            try await reporting { try await storage.maintenance.backup(to: destination) }
            print("Backup written to \(destination.path(percentEncoded: false)).")
        }
    }
}

/// `spyglass check`.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the database's integrity (exit code 1 when a problem is found).")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print the result as JSON.") var json = false

    struct Output: Encodable {
        var ok: Bool
        var problems: [String]
    }

    func run() async throws {
        try await store.withStorage { storage, _ in
            let problems = try await reporting { try await storage.maintenance.integrityProblems() }
            if json {
                try printJSON(Output(ok: problems.isEmpty, problems: problems))
            } else if problems.isEmpty {
                print("ok")
            } else {
                problems.forEach { print($0) }
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
