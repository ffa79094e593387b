import ArgumentParser
import Foundation
import SpyglassCore
import SpyglassProtocol
import SpyglassServer
import SpyglassStorage

/// `spyglass project …`.
struct ProjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Manage projects and their DSNs.",
        subcommands: [Create.self, List.self, DSNCommand.self, RateLimit.self, AddMember.self])

    /// Where DSNs point: `--base-url`, else SPYGLASS_BASE_URL, else the base URL the server recorded when it last
    /// started, else SPYGLASS_HOST and SPYGLASS_PORT.
    struct LinkOptions: ParsableArguments {
        @Option(
            name: .customLong("base-url"),
            help: ArgumentHelp(
                "Server URL used in DSNs (env SPYGLASS_BASE_URL; default: the URL the server last started under, else http://<SPYGLASS_HOST>:<SPYGLASS_PORT>).",
                valueName: "url"))
        var baseURL: String?
    }

    /// `spyglass project create`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a project with a client key.",
            discussion: """
                --id and --public-key keep a DSN from Sentry or GlitchTip working: \
                http://<public-key>@host/<id> stays valid after the move.
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var link: LinkOptions
        @Argument(help: "Display name of the project.") var name: String
        @Option(help: "URL-safe short name (default: derived from the name).") var slug: String?
        @Option(help: "Project id, the last part of the DSN (default: the next free one).") var id: Int64?
        @Option(name: .customLong("public-key"), help: "Client key, 32 hex digits (default: random).")
        var publicKey: String?
        @Flag(help: "Print the project as JSON.") var json = false

        func run() async throws {
            try await store.withStorage(baseURL: link.baseURL) { storage, configuration in
                let output = try await reporting {
                    let created = try await storage.projects.createProject(
                        name: name, slug: slug, id: id, publicKey: publicKey, now: .now)
                    return ProjectOutput(created, keys: try await storage.projects.keys(projectID: created.id), configuration, served: try await storage.maintenance.servedBaseURL())
                }
                if json {
                    try printJSON(output)
                } else {
                    print("Created project \(output.slug) (id \(output.id)).")
                    print("DSN: \(output.dsn ?? "-")")
                }
            }
        }
    }

    /// `spyglass project list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects with their DSNs.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var link: LinkOptions
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() async throws {
            try await store.withStorage(baseURL: link.baseURL) { storage, configuration in
                let projects = try await reporting {
                    var projects: [ProjectOutput] = []
                    let served = try await storage.maintenance.servedBaseURL()
                    for project in try await storage.projects.allProjects() {
                        projects.append(ProjectOutput(project, keys: try await storage.projects.keys(projectID: project.id), configuration, served: served))
                    }
                    return projects
                }
                if json {
                    try printJSON(projects)
                } else {
                    printTable(
                        ["ID", "SLUG", "NAME", "DSN"], projects.map { ["\($0.id)", $0.slug, $0.name, $0.dsn ?? "-"] })
                }
            }
        }
    }

    /// `spyglass project dsn`.
    struct DSNCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dsn", abstract: "Print the DSN of a project (its first active key).")

        @OptionGroup var store: StoreOptions
        @OptionGroup var link: LinkOptions
        @Argument(help: "The project's slug.") var slug: String
        @Flag(help: "Print every key's DSN as JSON.") var json = false

        func run() async throws {
            try await store.withStorage(baseURL: link.baseURL) { storage, configuration in
                let output = try await reporting {
                    let project = try await storage.projects.project(slug: slug)
                    guard let project else { throw DomainError(.notFound, "no project with slug \"\(slug)\"") }
                    return ProjectOutput(project, keys: try await storage.projects.keys(projectID: project.id), configuration, served: try await storage.maintenance.servedBaseURL())
                }
                if json {
                    try printJSON(output.keys)
                } else if let dsn = output.dsn {
                    print(dsn)
                } else {
                    throw fail(DomainError(.notFound, "project \"\(slug)\" has no active key"))
                }
            }
        }
    }
}

extension ProjectCommand {
    /// `spyglass project add-member`.
    struct AddMember: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-member", abstract: "Make a user a member of a project (members see its issues).")

        @OptionGroup var store: StoreOptions
        @Argument(help: "The project's slug.") var slug: String
        @Argument(help: "The user's e-mail address.") var email: String
        @Flag(help: "Make the user an admin of the project.") var admin = false

        func run() async throws {
            try await store.withStorage(baseURL: nil) { storage, _ in
                try await reporting {
                    let project = try await storage.projects.project(slug: slug)
                    guard let project else { throw DomainError(.notFound, "no project with slug \"\(slug)\"") }
                    try await storage.projects.addMember(projectID: project.id, email: email, role: admin ? .admin : .member, now: .now)
                }
                print("\(email) is now a\(admin ? "n admin" : " member") of \(slug).")
            }
        }
    }

    /// `spyglass project rate-limit`.
    struct RateLimit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rate-limit",
            abstract: "Limit the events per minute each key of a project may send (429 beyond it).",
            discussion: "A running server picks the change up within a second. --per-minute 0 removes the limit.")

        @OptionGroup var store: StoreOptions
        @Argument(help: "The project's slug.") var slug: String
        @Option(name: .customLong("per-minute"), help: "Events per minute and key; 0 for no limit.") var perMinute: Int

        func run() async throws {
            try await store.withStorage { storage, _ in
                let changed = try await reporting {
                    let project = try await storage.projects.project(slug: slug)
                    guard let project else { throw DomainError(.notFound, "no project with slug \"\(slug)\"") }
                    return try await storage.projects.setRateLimit(projectID: project.id, perMinute: perMinute == 0 ? nil : perMinute)
                }
                print(perMinute == 0
                    ? "Removed the rate limit of \(changed) key(s) of \(slug)."
                    : "Limited \(changed) key(s) of \(slug) to \(perMinute) events per minute.")
            }
        }
    }
}

/// A project as the CLI shows it.
struct ProjectOutput: Encodable {
    struct Key: Encodable {
        var id: Int64
        var label: String
        var publicKey: String
        var isActive: Bool
        var dsn: String
    }
    var id: Int64
    var slug: String
    var name: String
    var dateCreated: Date
    /// The DSN of the first active key.
    var dsn: String?
    var keys: [Key]

    /// - Parameter served: the base URL the server recorded when it last started: DSNs point there unless
    ///   `--base-url` or SPYGLASS_BASE_URL says otherwise (the CLI does not know the server's flags).
    init(_ project: ProjectInfo, keys: [KeyInfo], _ configuration: ServerConfiguration, served: String?) {
        let baseURL =
            configuration.baseURL ?? served.flatMap { URL(string: $0) } ?? configuration.effectiveBaseURL(boundPort: configuration.port)
        id = project.id
        slug = project.slug
        name = project.name
        dateCreated = project.createdAt
        let projectID = Int(id)
        self.keys = keys.map { key in
            Key(
                id: key.id, label: key.label, publicKey: key.publicKey, isActive: key.isActive,
                dsn: DSN(baseURL: baseURL, publicKey: key.publicKey, projectID: projectID)?.description ?? "")
        }
        dsn = self.keys.first(where: \.isActive)?.dsn
    }
}
