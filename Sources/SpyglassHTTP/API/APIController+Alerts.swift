import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

/// Issue alert rules (`/projects/{org}/{project}/rules/`) and the delivery history of their notifications.
extension APIController {
    func addAlertRoutes(to api: PolicedRoutes<RouterGroup<Context>>) {
        add(api, .get, "projects/:org/:project/rules", .readAlertRules, listRules)
        add(api, .post, "projects/:org/:project/rules", .manageAlertRules, createRule)
        add(api, .get, "projects/:org/:project/rules/:rule_id", .readAlertRules, ruleDetail)
        add(api, .put, "projects/:org/:project/rules/:rule_id", .manageAlertRules, updateRule)
        add(api, .delete, "projects/:org/:project/rules/:rule_id", .manageAlertRules, deleteRule)
        add(api, .get, "projects/:org/:project/rules/:rule_id/deliveries", .readAlertRules, ruleDeliveries)
        add(api, .get, "issues/:issue_id/deliveries", .readIssues, issueDeliveries)
    }

    func ruleID(_ context: Context) throws -> Int64 {
        let text = context.parameters.get("rule_id") ?? ""
        guard let id = Int64(text) else { throw APIError.notFound("rule \"\(text)\" not found") }
        return id
    }

    func storedRule(_ context: Context, project: ProjectInfo) async throws -> AlertRule {
        let id = try ruleID(context)
        guard let rule = try await storage.alertRules.alertRule(id: id, projectID: project.id) else { throw APIError.notFound("rule \(id) not found") }
        return rule
    }

    @Sendable func listRules(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let rules = try await storage.alertRules.alertRules(projectID: project.id)
        return APIJSON.response(.array(rules.map { Self.ruleJSON($0, project: project) }))
    }

    @Sendable func ruleDetail(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        return APIJSON.response(Self.ruleJSON(try await storedRule(context, project: project), project: project))
    }

    @Sendable func createRule(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let rule = try AlertRule(json: try await APIJSON.body(request, context: context), secret: { "" })
        if let checker = alertChecker, let refusal = await rule.webhookRefusal(checker) {
            throw APIError.badRequest("actions[\(refusal.index)].url: \(refusal.reason)")
        }
        let id = try await storage.alertRules.createAlertRule(rule, projectID: project.id, now: .now)
        guard let stored = try await storage.alertRules.alertRule(id: id, projectID: project.id) else { throw APIError.notFound("rule \(id) not found") }
        return APIJSON.response(Self.ruleJSON(stored, project: project), status: .created)
    }

    /// Replaces the rule with the body. Secrets are write-only: a webhook action without one (or with an empty one)
    /// keeps the secret of the same URL, or of the rule's only webhook.
    @Sendable func updateRule(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let existing = try await storedRule(context, project: project)
        var rule = try AlertRule(json: try await APIJSON.body(request, context: context), secret: { "" })
        rule.actions = Self.keepingSecrets(rule.actions, of: existing.actions)
        if let checker = alertChecker, let refusal = await rule.webhookRefusal(checker) {
            throw APIError.badRequest("actions[\(refusal.index)].url: \(refusal.reason)")
        }
        guard let id = existing.id, try await storage.alertRules.updateAlertRule(rule, id: id, projectID: project.id, now: .now),
            let stored = try await storage.alertRules.alertRule(id: id, projectID: project.id)
        else { throw APIError.notFound("rule not found") }
        return APIJSON.response(Self.ruleJSON(stored, project: project))
    }

    @Sendable func deleteRule(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let id = try ruleID(context)
        guard try await storage.alertRules.deleteAlertRule(id: id, projectID: project.id) else { throw APIError.notFound("rule \(id) not found") }
        return Response(status: .noContent)
    }

    @Sendable func ruleDeliveries(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let rule = try await storedRule(context, project: project)
        let limit = try APIJSON.limit(request)
        let deliveries = try await storage.alertRules.deliveries(issueID: nil, ruleID: rule.id, limit: limit)
        return try APIJSON.response(encoding: deliveries.map(SentryJSON.Delivery.init))
    }

    @Sendable func issueDeliveries(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let limit = try APIJSON.limit(request)
        let deliveries = try await storage.alertRules.deliveries(issueID: issue.id, ruleID: nil, limit: limit)
        return try APIJSON.response(encoding: deliveries.map(SentryJSON.Delivery.init))
    }

    /// `actions` with the stored secret for each webhook that came without one.
    static func keepingSecrets(_ actions: [AlertAction], of stored: [AlertAction]) -> [AlertAction] {
        var secrets: [String: String] = [:]
        for case .webhook(let url, let secret) in stored { secrets[url] = secret }
        let only = secrets.count == 1 ? secrets.values.first : nil
        return actions.map { action in
            guard case .webhook(let url, let secret) = action, secret.isEmpty, let kept = secrets[url] ?? only else { return action }
            return .webhook(url: url, secret: kept)
        }
    }

    static func ruleJSON(_ rule: AlertRule, project: ProjectInfo) -> JSONValue {
        var object = rule.publicJSON
        object["id"] = .string(rule.id.map(String.init) ?? "")
        object["dateCreated"] = rule.created.map(APIJSON.date) ?? .null
        object["projects"] = [.string(project.slug)]
        return .object(object)
    }
}
