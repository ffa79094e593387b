import ArgumentParser
import Foundation
import SpyglassServer

/// `spyglass sendtestmail --to ADDRESS`.
struct SendTestMail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sendtestmail",
        abstract: "Send a test e-mail with the SMTP settings the server would use.",
        discussion: """
            Reads SPYGLASS_SMTP_URL (smtp://, smtp+starttls:// or smtps://user:pass@host:port), \
            SPYGLASS_SMTP_CA_FILE and SPYGLASS_EMAIL_FROM, as `spyglass serve` does.
            """)

    @Option(help: ArgumentHelp("Where to send the test e-mail.", valueName: "address"))
    var to: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let configuration = try store.configuration()
        do {
            try await Server.sendTestMail(to: to, configuration: configuration)
        } catch {
            throw fail(error)
        }
        print("sent a test e-mail to \(to)")
    }
}
