import ArgumentParser
import Foundation
import Logging
import SpyglassCore
import SpyglassServer
import SpyglassStorage

/// Options every administration command takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: help("data-dir"))
    var dataDir: String?

    @Option(name: .customLong("database-url"), help: help("database-url"))
    var databaseURL: String?

    /// The configuration these options and the environment give.
    func configuration(baseURL: String? = nil) throws -> ServerConfiguration {
        try resolveOrExit(ServeFlags(["data-dir": dataDir, "database-url": databaseURL, "base-url": baseURL].compactMapValues { $0 }))
    }

    /// Opens (creating and migrating if needed) the SQLite database of the data directory.
    func openSQLite() throws -> AppDatabase {
        do {
            return try Server.openDatabase(try configuration())
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }

    /// Opens the database (creating and migrating it if needed), runs `body` with its ports and the configuration,
    /// and closes it.
    func withStorage(
        baseURL: String? = nil, _ body: (Storage, ServerConfiguration) async throws -> Void
    ) async throws {
        let configuration = try configuration(baseURL: baseURL)
        var logger = Logger(label: "spyglass")
        logger.logLevel = .error
        do {
            try await StorageBackend.withOpened(configuration, logger: logger) { backend in
                try await body(backend.storage, configuration)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

/// The help of a `serve` setting's flag, as ``ServerSetting/all`` declares it.
func help(_ flag: String) -> ArgumentHelp {
    guard let setting = ServerSetting.flagged(flag) else { return ArgumentHelp() }
    return ArgumentHelp(setting.flagHelp, valueName: setting.valueName)
}

/// Resolves the configuration; a bad setting ends the process with exit code 2 and one line.
func resolveOrExit(_ flags: ServeFlags) throws -> ServerConfiguration {
    do {
        return try ServerConfiguration.resolve(flags: flags, environment: ProcessInfo.processInfo.environment)
    } catch {
        throw fail(error)
    }
}

/// Prints `spyglass: <message>` on stderr and returns the exit code to throw:
/// 2 for a bad setting or argument, 1 for anything else.
func fail(_ error: any Error) -> ExitCode {
    let message: String
    let code: Int32
    switch error {
    case let error as ConfigurationError:
        (message, code) = (error.description, 2)
    case let error as DomainError:
        (message, code) = (error.message, error.kind == .invalidInput ? 2 : 1)
    default:
        (message, code) = ("\(error)", 1)
    }
    FileHandle.standardError.write(Data("spyglass: \(message)\n".utf8))
    return ExitCode(code)
}

/// Runs `body`, turning domain errors into one line on stderr and an exit code.
func reporting<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        throw fail(error)
    }
}

/// JSON for `--json` output: sorted keys, ISO 8601 dates, one document.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A plain-text table with left-aligned columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
