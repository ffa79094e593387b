import Foundation
import SpyglassCore

/// Test notifications and webhook checks for the rule forms and the API (``AlertActionChecker``): the same
/// sending code and address guard as the outbox's deliveries, so a test says what a real alert would meet.
public struct NotificationTester: AlertActionChecker {
    let settings: NotifySettings
    let renderer: @Sendable () -> NotificationRenderer

    public init(settings: NotifySettings, renderer: @escaping @Sendable () -> NotificationRenderer) {
        self.settings = settings
        self.renderer = renderer
    }

    public func sendTest(_ action: AlertAction, ruleName: String, project: ProjectInfo) async -> AlertTestOutcome {
        let now = Date.now
        let content = NotificationContent(
            projectID: project.id, projectSlug: project.slug, projectName: project.name, issueID: 0,
            shortID: project.slug.uppercased() + "-TEST", title: "Test notification from Spyglass",
            culprit: "the alert rule “\(ruleName)” works", level: "info", status: "unresolved", count: 1, userCount: 0,
            firstSeen: now, lastSeen: now, eventID: String(repeating: "0", count: 32), release: nil, environment: nil)
        let notification = PendingNotification(
            id: 0, ruleID: nil, ruleName: ruleName, trigger: .newIssue, action: action, content: content, attempts: 0)
        do {
            let detail = try await NotificationService.send(
                notification, settings: settings, renderer: renderer(), webhooks: WebhookSender(allowPrivate: settings.allowPrivateWebhooks))
            return AlertTestOutcome(succeeded: true, detail: detail)
        } catch let error as DeliveryError {
            return AlertTestOutcome(succeeded: false, detail: error.message)
        } catch {
            return AlertTestOutcome(succeeded: false, detail: "\(error)")
        }
    }

    public func refusal(webhookURL url: String) async -> String? {
        let target: WebhookTarget
        do {
            target = try await WebhookTarget(url: url)
        } catch let error as DeliveryError where error.permanent {
            return error.message
        } catch {
            return nil
        }
        guard !settings.allowPrivateWebhooks, let refusal = target.refusal else { return nil }
        return "deliveries to \(target.host) are refused: \(refusal) (set SPYGLASS_WEBHOOK_ALLOW_PRIVATE=1 to allow it)"
    }
}
