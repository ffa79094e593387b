import Foundation
import SpyglassServer
import Testing

/// The settings are declared once (ServerSetting.all): the docs' table, the defaults and the resolution agree
/// with that declaration.
@Suite struct ServerSettingsTests {
    /// docs/configuration.md, found from this file (Tests/SpyglassServerTests/ → the repository root).
    static let documentation = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appending(path: "docs/configuration.md")

    /// `SPYGLASS_UPDATE_DOCS=1 swift test --filter ServerSettingsTests` writes the declaration's table into the file.
    @Test func theDocumentationTableIsTheDeclaration() throws {
        let text = try String(contentsOf: Self.documentation, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.hasPrefix("| Setting |") }, "docs/configuration.md has no settings table")
        let end = lines[start...].firstIndex { !$0.hasPrefix("|") } ?? lines.endIndex
        let table = lines[start..<end].joined(separator: "\n")
        if table != ServerSetting.markdownTable, ProcessInfo.processInfo.environment["SPYGLASS_UPDATE_DOCS"] == "1" {
            let updated = (lines[..<start] + [Substring(ServerSetting.markdownTable)] + lines[end...]).joined(separator: "\n")
            try updated.write(to: Self.documentation, atomically: true, encoding: .utf8)
            return
        }
        #expect(
            table == ServerSetting.markdownTable,
            "docs/configuration.md's table differs from ServerSetting.all (SPYGLASS_UPDATE_DOCS=1 swift test --filter ServerSettingsTests writes it)")
    }

    @Test func everyDeclaredDefaultIsWhatTheConfigurationStartsWith() throws {
        for setting in ServerSetting.all {
            guard case .value(let text) = setting.defaultValue else { continue }
            // The variable set to its declared default resolves to the same configuration as nothing set.
            let applied = try ServerConfiguration.resolve(flags: ServeFlags(), environment: [setting.variable: text])
            #expect(
                String(describing: applied) == String(describing: ServerConfiguration.defaults),
                "\(setting.variable)=\(text) is not what ServerConfiguration.defaults holds")
        }
    }

    @Test func everySettingIsResolvedFromItsFlagAndItsVariable() throws {
        let names = ServerSetting.all.map(\.variable)
        #expect(Set(names).count == names.count && names.allSatisfy { $0.hasPrefix("SPYGLASS_") })
        for setting in ServerSetting.all {
            // A value no setting accepts as given... except the free-form ones: the error names the setting.
            if let flag = setting.flag {
                #expect(setting.name == "--\(flag) / \(setting.variable)")
            } else {
                #expect(setting.name == setting.variable)
            }
        }
        let error = #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.resolve(flags: ["no-such-flag": "1"], environment: [:])
        }
        #expect(error?.setting == "--no-such-flag")
        // Flags only for settings that have one: the secret stays in the environment.
        #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.resolve(flags: ["admin-password": "longenough"], environment: [:])
        }
    }

    @Test func theHelpListsEveryFlagAndEveryVariable() {
        let help = ServerSetting.helpText
        for setting in ServerSetting.all {
            #expect(help.contains(setting.variable))
            if let flag = setting.flag { #expect(help.contains("--\(flag) <\(setting.valueName)>")) }
        }
    }
}
