import Foundation
import Logging
import SpyglassCore
import SpyglassHTTP
import SpyglassNotify
import SpyglassPostgres

/// A setting with a bad value: says which one, and what is wrong with it.
public struct ConfigurationError: Error, CustomStringConvertible {
    /// The flag and variable, e.g. `--port / SPYGLASS_PORT`.
    public let setting: String
    /// What is wrong with the value.
    public let message: String

    public var description: String { "invalid \(setting): \(message)" }
}

/// The raw text of each setting given on the command line, by flag (`port`, `data-dir`); a flag not given is absent.
public struct ServeFlags: Sendable, ExpressibleByDictionaryLiteral {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    public init(dictionaryLiteral elements: (String, String)...) {
        values = Dictionary(elements, uniquingKeysWith: { $1 })
    }

    /// Reads `--name value` and `--name=value` pairs (the last of a name counts).
    public init(arguments: [String]) throws(ConfigurationError) {
        values = [:]
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError(setting: "argument \"\(argument)\"", message: "serve takes only --<setting> <value> pairs")
            }
            let body = argument.dropFirst(2)
            if let equals = body.firstIndex(of: "=") {
                values[String(body[..<equals])] = String(body[body.index(after: equals)...])
            } else {
                guard index + 1 < arguments.endIndex else {
                    throw ConfigurationError(setting: argument, message: "a value must follow it")
                }
                index += 1
                values[String(body)] = arguments[index]
            }
            index += 1
        }
    }
}

extension ServerConfiguration {
    /// Resolves every setting of ``ServerSetting/all``: the flag if given, else the environment variable (empty
    /// counts as unset), else the default. The first bad value throws, naming its setting.
    public static func resolve(
        flags: ServeFlags, environment: [String: String]
    ) throws(ConfigurationError) -> ServerConfiguration {
        if let unknown = flags.values.keys.sorted().first(where: { ServerSetting.flagged($0) == nil }) {
            throw ConfigurationError(setting: "--\(unknown)", message: "there is no such setting (spyglass serve --help lists them)")
        }
        var config = ServerConfiguration.defaults
        for setting in ServerSetting.all {
            let given = setting.flag.flatMap { flags.values[$0] }
            guard let text = given ?? environment[setting.variable].flatMap({ $0.isEmpty ? nil : $0 }) else { continue }
            do {
                try setting.apply(text, &config)
            } catch let error as ServerSetting.Invalid {
                throw ConfigurationError(setting: setting.name, message: error.message)
            } catch {
                throw ConfigurationError(setting: setting.name, message: "\(error)")
            }
        }
        return config
    }
}
