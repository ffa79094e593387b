import Foundation

/// What came of a test notification: delivered (with a short note: "accepted", "sent to 2 recipient(s) via …")
/// or not, and why.
public struct AlertTestOutcome: Sendable, Hashable {
    public var succeeded: Bool
    public var detail: String

    public init(succeeded: Bool, detail: String) {
        self.succeeded = succeeded
        self.detail = detail
    }
}

/// The delivery side's word on alert actions, for the forms and the API that save rules (implemented by
/// SpyglassNotify, which sends): a test notification sent now, and whether a webhook URL would be refused.
public protocol AlertActionChecker: Sendable {
    /// Sends a test notification through `action` now, as a delivery would (e-mail actions name their addresses).
    func sendTest(_ action: AlertAction, ruleName: String, project: ProjectInfo) async -> AlertTestOutcome
    /// Why deliveries to `url` would be refused (not an http(s) URL, or a special-purpose address such as loopback
    /// or a private network unless the server allows them); nil when they would be sent. A host that does not
    /// resolve now is not refused: DNS may answer later.
    func refusal(webhookURL url: String) async -> String?
}

extension AlertRule {
    /// The first of the rule's webhook, Slack or Discord actions whose URL the server would refuse, with why.
    public func webhookRefusal(_ checker: any AlertActionChecker) async -> (index: Int, action: AlertAction, reason: String)? {
        for (index, action) in actions.enumerated() {
            let url: String
            switch action {
            case .webhook(let address, _), .slack(let address), .discord(let address): url = address
            case .email: continue
            }
            if let reason = await checker.refusal(webhookURL: url) { return (index, action, reason) }
        }
        return nil
    }
}
