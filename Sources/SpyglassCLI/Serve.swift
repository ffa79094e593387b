import ArgumentParser
import Foundation
import Logging
import SpyglassServer
import SpyglassStorage

/// `spyglass serve`. Its settings are ``ServerSetting/all``: the flags are parsed from that declaration, and the
/// help lists them from it.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server.",
        usage: "spyglass serve [--<setting> <value> ...]",
        discussion: ServerSetting.helpText)

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var arguments: [String] = []

    func run() async throws {
        let configuration: ServerConfiguration
        do { configuration = try resolveOrExit(try ServeFlags(arguments: arguments)) } catch let error as ConfigurationError {
            throw fail(error)
        }
        LoggingSystem.bootstrap { _ in
            StructuredLogHandler(format: configuration.logFormat, level: configuration.logLevel)
        }
        let logger = Logger(label: "spyglass")
        do {
            try await StorageBackend.withOpened(configuration, logger: logger) { backend in
                try await Server.run(configuration: configuration, backend: backend, logger: logger)
            }
        } catch let error as ConfigurationError {
            throw fail(error)
        } catch {
            logger.critical("server stopped", metadata: ["error": "\(error)"])
            throw fail(error)
        }
        logger.info("shut down")
    }
}
