import Crypto
import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

@testable import SpyglassNotify

@Suite struct SMTPConfigurationTests {
    @Test func urlsGiveSecurityPortAndCredentials() throws {
        let starttls = try SMTPConfiguration(url: "smtp+starttls://me%40example.com:p%3Ass@mail.example.com:2525")
        #expect(starttls.security == .startTLS && starttls.host == "mail.example.com" && starttls.port == 2525)
        #expect(starttls.username == "me@example.com" && starttls.password == "p:ss" && starttls.authMechanism == nil)
        let implicit = try SMTPConfiguration(url: "smtps://u:p@mail.example.com?auth=login")
        #expect(implicit.security == .tls && implicit.port == 465 && implicit.authMechanism == .login)
        let plain = try SMTPConfiguration(url: "smtp://127.0.0.1")
        #expect(plain.security == .none && plain.port == 25 && plain.username == nil)
        #expect(throws: DomainError.self) { try SMTPConfiguration(url: "http://mail.example.com") }
        #expect(throws: DomainError.self) { try SMTPConfiguration(url: "smtp://u@mail.example.com") }
        #expect(throws: DomainError.self) { try SMTPConfiguration(url: "smtp://mail.example.com?auth=cram-md5") }
    }
}

@Suite struct MailMessageTests {
    @Test func headersAreOneLineAndBodiesSurviveSMTP() throws {
        let message = MailMessage(
            from: "spyglass@example.com", to: ["a@example.com", "b@example.com"],
            subject: "[Spyglass] New issue: evil\r\nBcc: victim@example.com", text: ".\r\n.leading dot\nline", html: "<p>x</p>",
            messageID: "spyglass-notification-1@example.com", headers: [("List-Unsubscribe", "<http://x/settings/>")])
        let rendered = message.rendered(date: Date(timeIntervalSince1970: 0), boundary: "B")
        let lines = rendered.components(separatedBy: "\r\n")
        #expect(lines.contains("Subject: [Spyglass] New issue: evil  Bcc: victim@example.com"))
        #expect(!lines.contains { $0.hasPrefix("Bcc:") })
        #expect(lines.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"))
        #expect(lines.contains("Message-ID: <spyglass-notification-1@example.com>"))
        #expect(lines.contains("To: a@example.com, b@example.com"))
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
        // Bodies are base64: the text's dots and bare newlines come back exactly.
        let start = try #require(lines.firstIndex(of: "Content-Transfer-Encoding: base64")) + 2
        let encoded = lines[start...].prefix { !$0.isEmpty && !$0.hasPrefix("--") }.joined()
        #expect(String(decoding: try #require(Data(base64Encoded: encoded)), as: UTF8.self) == ".\r\n.leading dot\nline")
    }

    @Test func nonASCIISubjectsAreEncodedWords() throws {
        let encoded = MailMessage.encodeHeaderText("Ошибка: ✓ " + String(repeating: "ü", count: 40))
        let words = encoded.components(separatedBy: "\r\n ")
        #expect(words.count > 1 && words.allSatisfy { $0.hasPrefix("=?UTF-8?B?") && $0.hasSuffix("?=") && $0.utf8.count <= 75 })
        let decoded = words.map { String(decoding: Data(base64Encoded: String($0.dropFirst(10).dropLast(2)))!, as: UTF8.self) }.joined()
        #expect(decoded == "Ошибка: ✓ " + String(repeating: "ü", count: 40))
    }

    @Test func smtpDotStuffing() {
        #expect(SMTPClient.dotStuffed("a\r\n.b\r\n..c\r\n") == "a\r\n..b\r\n...c\r\n")
    }
}

@Suite struct RendererTests {
    let notification = PendingNotification(
        id: 7, ruleID: 3, ruleName: "Rule <b>", trigger: .newIssue, action: .email(.members),
        content: NotificationContent(
            projectID: 1, projectSlug: "web", projectName: "Web", issueID: 42, shortID: "WEB-5",
            title: "<script>alert(1)</script> @everyone", culprit: "app.views in \"index\"", level: "error", status: "unresolved",
            count: 3, userCount: 1, firstSeen: Date(timeIntervalSince1970: 1_790_000_000), lastSeen: Date(timeIntervalSince1970: 1_790_000_100),
            eventID: String(repeating: "a", count: 32), release: "web@1.2", environment: "production"),
        attempts: 0)
    let renderer = NotificationRenderer(baseURL: "https://errors.example.com/", organization: "acme")

    @Test func mailEscapesEventDataAndLinksTheIssue() {
        let mail = renderer.mail(notification, from: "s@example.com", to: ["a@example.com"], host: "example.com")
        #expect(mail.subject == "[Spyglass] New issue in web: <script>alert(1)</script> @everyone")
        #expect(!mail.html.contains("<script>") && mail.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(mail.html.contains("Rule &lt;b&gt;") && mail.html.contains("&quot;index&quot;"))
        #expect(mail.text.contains("https://errors.example.com/organizations/acme/issues/42/"))
        #expect(mail.text.contains("Release: web@1.2") && mail.text.contains("Environment: production") && mail.text.contains("Events: 3"))
        #expect(mail.headers.contains { $0.name == "List-Unsubscribe" && $0.value == "<https://errors.example.com/settings/acme/projects/web/alerts/>" })
    }

    @Test func webhookBodiesCarryTheIssue() throws {
        let generic = try JSONParser.parse(renderer.webhookBody(notification))
        #expect(generic["trigger"]?.stringValue == "new_issue" && generic["delivery"]?.stringValue == "7")
        #expect(generic["issue"]?["url"]?.stringValue == "https://errors.example.com/organizations/acme/issues/42/")
        #expect(generic["event"]?["eventId"]?.stringValue == String(repeating: "a", count: 32))
        let slack = try JSONParser.parse(renderer.slackBody(notification))
        let text = try #require(slack["text"]?.stringValue)
        #expect(text.contains("&lt;script&gt;") && !text.contains("<script>"))
        #expect(text.contains("<https://errors.example.com/organizations/acme/issues/42/|WEB-5>"))
        let discord = try JSONParser.parse(renderer.discordBody(notification))
        #expect(discord["allowed_mentions"]?["parse"]?.arrayValue?.isEmpty == true)
        #expect(discord["embeds"]?.arrayValue?.first?["url"]?.stringValue == "https://errors.example.com/organizations/acme/issues/42/")
    }
}

/// The outbox's depth gauge is counted at most once a second, and once after a burst's last round.
@Suite struct DepthSamplerTests {
    @Test func aBurstIsCountedOnceASecondAndOnceAfterItsLastRound() {
        var sampler = NotificationService.DepthSampler()
        let start = ContinuousClock.now
        func at(_ seconds: Double, claimed: Int) -> Bool {
            sampler.counts(claimed: claimed, now: start.advanced(by: .milliseconds(Int(seconds * 1000))))
        }
        #expect(at(0, claimed: 0))  // the first round: the gauge starts
        #expect(!at(0.5, claimed: 0))  // idle, within the second
        #expect(at(2, claimed: 3))  // a burst begins
        #expect(!at(2.2, claimed: 5))
        #expect(!at(2.5, claimed: 20))
        #expect(at(3.1, claimed: 4))  // a second since the last count
        #expect(!at(3.3, claimed: 2))
        #expect(at(3.4, claimed: 0))  // the burst is over: its last rounds counted
        #expect(!at(3.5, claimed: 0))
        #expect(!at(4.3, claimed: 0))
        #expect(at(4.5, claimed: 0))  // idle, once a second: another node may deliver
        #expect(at(61, claimed: 1))
        #expect(!at(61.1, claimed: 0))  // counted after the round that claimed
    }
}
