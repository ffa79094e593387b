import Foundation
import SpyglassCore
import SpyglassNotify

extension Server {
    /// Sends one test mail with the configured SMTP settings (`spyglass sendtestmail`).
    public static func sendTestMail(to address: String, configuration: ServerConfiguration) async throws {
        let recipient = try EmailAddress.normalize(address)
        guard let smtp = configuration.notify.smtp else {
            throw DomainError(.invalidInput, "e-mail is not configured: set SPYGLASS_SMTP_URL (and SPYGLASS_EMAIL_FROM)")
        }
        let from = configuration.notify.emailFrom
        let base = configuration.effectiveBaseURL(boundPort: configuration.port).absoluteString
        let text = """
            This is a test e-mail from Spyglass at \(base).

            Alert mails will come from \(from) through \(smtp.host):\(smtp.port) (\(smtp.security.rawValue)).
            """
        let html = "<p>This is a test e-mail from Spyglass at \(base).</p><p>Alert mails will come from \(from).</p>"
        let host = from.split(separator: "@").last.map(String.init) ?? "spyglass"
        let message = MailMessage(
            from: from, to: [recipient], subject: "[Spyglass] Test e-mail", text: text, html: html,
            messageID: "spyglass-test-\(UUID().uuidString.lowercased())@\(host)")
        do {
            try await SMTPClient(configuration: smtp).send(message)
        } catch let error as DeliveryError {
            throw DomainError(.unavailable, "sending to \(smtp.host):\(smtp.port) failed: \(error.message)")
        }
    }
}
