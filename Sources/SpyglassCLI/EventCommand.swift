import ArgumentParser
import Foundation
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage

/// `spyglass event …`.
struct EventCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "event", abstract: "Look at stored events.", subcommands: [Show.self])

    /// `spyglass event show`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print stored events as normalized JSON, one object a line (the event id from a log or an SDK).")

        @OptionGroup var store: StoreOptions
        @Argument(help: "Event ids (32 hex digits, dashes allowed).") var ids: [String]

        func run() async throws {
            try await store.withStorage { storage, _ in
                var normalized: [String] = []
                for id in ids {
                    guard let canonical = EventID.normalize(id) else { throw fail(DomainError(.invalidInput, "\"\(id)\" is not an event id")) }
                    normalized.append(canonical)
                }
                let events = try await reporting { try await storage.events.events(ids: normalized) }
                let found = Set(events.map(\.eventID))
                for event in events { print(JSONWriter.string(event.payload)) }
                if let missing = normalized.first(where: { !found.contains($0) }) {
                    throw fail(DomainError(.notFound, "no stored event \(missing)"))
                }
            }
        }
    }
}
