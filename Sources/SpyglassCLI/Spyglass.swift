import ArgumentParser

/// The `spyglass` command: the server and its administration.
@main
struct Spyglass: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spyglass",
        abstract: "Self-hosted, Sentry-compatible error tracking.",
        discussion: """
            Start with `spyglass serve`: it creates ./spyglass-data, an admin account and a project \
            called `default`, and prints the project's DSN. Every command takes --data-dir \
            (SPYGLASS_DATA_DIR) and works on a fresh directory too.
            """,
        subcommands: [
            Serve.self, UserCommand.self, ProjectCommand.self, TokenCommand.self, EventCommand.self, SendTestMail.self, Backup.self,
            Check.self, MigrateCommand.self,
        ]
    )
}
