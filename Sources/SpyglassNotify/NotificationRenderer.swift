import Foundation
import SpyglassCore
import SpyglassProtocol

/// Turns a notification into what each channel sends. Everything from the event is attacker-controlled:
/// HTML is escaped, Slack's `<>&` are escaped, Discord mentions are disabled, header values are one line.
public struct NotificationRenderer: Sendable {
    /// The server's public URL (links), without a trailing slash.
    public var baseURL: String
    public var organization: String

    public init(baseURL: String, organization: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.organization = organization
    }

    public func issueURL(_ content: NotificationContent) -> String {
        "\(baseURL)/organizations/\(organization)/issues/\(content.issueID)/"
    }

    public func settingsURL(_ content: NotificationContent) -> String {
        "\(baseURL)/settings/\(organization)/projects/\(content.projectSlug)/alerts/"
    }

    static func headline(_ trigger: AlertTrigger) -> String {
        switch trigger {
        case .newIssue: "New issue"
        case .regression: "Regression"
        case .escalating: "Escalating"
        case .frequency, .userFrequency: "Frequent issue"
        case .assigned: "Assigned to you"
        }
    }

    public func subject(_ notification: PendingNotification) -> String {
        let content = notification.content
        return "[Spyglass] \(Self.headline(notification.trigger)) in \(content.projectSlug): \(content.title.limited(to: 200))"
    }

    /// Label and value rows shown in the mail.
    func facts(_ notification: PendingNotification) -> [(String, String)] {
        let content = notification.content
        return [
            ("Issue", content.shortID), ("Project", content.projectSlug), ("Culprit", content.culprit.isEmpty ? "-" : content.culprit),
            ("Level", content.level), ("Release", content.release ?? "-"), ("Environment", content.environment ?? "-"),
            ("Events", String(content.count)), ("Users", String(content.userCount)),
            ("First seen", Self.iso(content.firstSeen)),
            notification.trigger == .assigned ? ("Assigned by", notification.ruleName) : ("Rule", notification.ruleName),
        ]
    }

    public func mail(_ notification: PendingNotification, from: String, to: [String], host: String) -> MailMessage {
        let content = notification.content
        let link = issueURL(content)
        let facts = facts(notification)
        let headline = Self.headline(notification.trigger)
        var text = "\(headline) in \(content.projectSlug)\n\n\(content.title)\n\n"
        for (label, value) in facts { text += "\(label): \(value)\n" }
        text += "\nOpen the issue: \(link)\n\n"
        if notification.trigger == .assigned {
            text += "You get this because \(notification.ruleName) assigned the issue to you.\n"
        } else {
            text += "You get this because of the alert rule \"\(notification.ruleName)\". "
            text += "Change the project's alerts: \(settingsURL(content))\n"
        }
        var html = """
            <!doctype html><html><body style="font-family: -apple-system, 'Segoe UI', sans-serif; color: #1f2328">
            <p style="color: #6e7781; margin: 0">\(Self.escape(headline)) in \(Self.escape(content.projectSlug))</p>
            <h2 style="margin: 4px 0 12px"><a href="\(Self.escape(link))" style="color: #0969da">\(Self.escape(content.title))</a></h2>
            <table style="border-collapse: collapse">
            """
        for (label, value) in facts {
            html += "<tr><td style=\"padding: 2px 12px 2px 0; color: #6e7781\">\(Self.escape(label))</td><td>\(Self.escape(value))</td></tr>"
        }
        html += """
            </table>
            <p><a href="\(Self.escape(link))">Open \(Self.escape(content.shortID)) in Spyglass</a></p>
            <p style="color: #6e7781; font-size: 12px">\(
                notification.trigger == .assigned
                    ? "You get this because \(Self.escape(notification.ruleName)) assigned the issue to you."
                    : "You get this because of the alert rule \"\(Self.escape(notification.ruleName))\". "
                        + "<a href=\"\(Self.escape(settingsURL(content)))\">Change the project's alerts</a>.")</p>
            </body></html>
            """
        return MailMessage(
            from: from, to: to, subject: subject(notification), text: text, html: html,
            messageID: "spyglass-notification-\(notification.id)@\(host)",
            headers: [
                ("List-Unsubscribe", "<\(settingsURL(content))>"), ("X-Spyglass-Issue", content.shortID),
                ("X-Spyglass-Trigger", notification.trigger.rawValue),
            ])
    }

    /// The generic webhook's JSON body.
    public func webhookBody(_ notification: PendingNotification) -> [UInt8] {
        let content = notification.content
        let body: JSONValue = [
            "action": "triggered", "trigger": .string(notification.trigger.rawValue), "delivery": .string(String(notification.id)),
            "rule": ["id": notification.ruleID.map { .string(String($0)) } ?? .null, "name": .string(notification.ruleName)],
            "project": ["id": .string(String(content.projectID)), "slug": .string(content.projectSlug), "name": .string(content.projectName)],
            "issue": [
                "id": .string(String(content.issueID)), "shortId": .string(content.shortID), "title": .string(content.title),
                "culprit": .string(content.culprit), "level": .string(content.level), "status": .string(content.status),
                "count": .number(JSONNumber(Int64(content.count))), "userCount": .number(JSONNumber(Int64(content.userCount))),
                "firstSeen": .string(Self.iso(content.firstSeen)), "lastSeen": .string(Self.iso(content.lastSeen)),
                "url": .string(issueURL(content)),
            ],
            "event": [
                "eventId": .string(content.eventID), "release": content.release.map(JSONValue.string) ?? .null,
                "environment": content.environment.map(JSONValue.string) ?? .null, "level": .string(content.level),
            ],
        ]
        return JSONWriter.bytes(body)
    }

    /// A Slack incoming-webhook body (also what Mattermost and Rocket.Chat accept).
    public func slackBody(_ notification: PendingNotification) -> [UInt8] {
        let content = notification.content
        func slackEscape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }
        let text = """
            *\(Self.headline(notification.trigger)) in \(slackEscape(content.projectSlug))*: <\(issueURL(content))|\(slackEscape(content.shortID))> \
            \(slackEscape(content.title.limited(to: 300)))
            \(slackEscape(content.culprit.limited(to: 300))) · \(content.count) events · release \(slackEscape(content.release ?? "-")) · \
            \(slackEscape(content.environment ?? "-"))
            """
        return JSONWriter.bytes(["text": .string(text)])
    }

    /// A Discord webhook body; mentions in event data (`@everyone`) never ping.
    public func discordBody(_ notification: PendingNotification) -> [UInt8] {
        let content = notification.content
        let color: Int64 = notification.trigger == .newIssue ? 0xE5_53_4B : 0xF2_A6_3B
        let body: JSONValue = [
            "content": .string("\(Self.headline(notification.trigger)) in \(content.projectSlug): \(content.shortID)"),
            "allowed_mentions": ["parse": []],
            "embeds": [
                [
                    "title": .string(content.title.limited(to: 250)), "url": .string(issueURL(content)),
                    "description": .string(content.culprit.limited(to: 1000)), "color": .number(JSONNumber(color)),
                    "fields": [
                        ["name": "Events", "value": .string(String(content.count)), "inline": true],
                        ["name": "Release", "value": .string(content.release ?? "-"), "inline": true],
                        ["name": "Environment", "value": .string(content.environment ?? "-"), "inline": true],
                    ],
                ]
            ],
        ]
        return JSONWriter.bytes(body)
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func iso(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }
}
