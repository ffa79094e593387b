import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

/// Issue alert rules (`/projects/{org}/{project}/rules/`) and the delivery history of their notifications.
extension APIController {
    func addAlertRoutes(to api: RouterGroup<Context>) {
        api.get("projects/:org/:project/rules", use: wrap(listRules))
        api.post("projects/:org/:project/rules", use: wrap(createRule))
        api.get("projects/:org/:project/rules/:rule_id", use: wrap(ruleDetail))
        api.put("projects/:org/:project/rules/:rule_id", use: wrap(updateRule))
        api.delete("projects/:org/:project/rules/:rule_id", use: wrap(deleteRule))
        api.get("projects/:org/:project/rules/:rule_id/deliveries", use: wrap(ruleDeliveries))
        api.get("issues/:issue_id/deliveries", use: wrap(issueDeliveries))
    }

    func ruleID(_ context: Context) throws -> Int64 {
        let text = context.parameters.get("rule_id") ?? ""
        guard let id = Int64(text) else { throw APIError.notFound("rule \"\(text)\" not found") }
        return id
    }

    func storedRule(_ context: Context, project: ProjectInfo) async throws -> AlertRule {
        let id = try ruleID(context)
        guard let rule = try await store.alertRule(id: id, projectID: project.id) else { throw APIError.notFound("rule \(id) not found") }
        return rule
    }

    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    @Sendable func listRules(_ request: Request, context: Context) async throws -> Response {
        let project = try await project(context)
        let rules = try await store.alertRules(projectID: project.id)
        return APIJSON.response(.array(rules.map { Self.ruleJSON($0, project: project) }))
    }

    @Sendable func ruleDetail(_ request: Request, context: Context) async throws -> Response {
        let project = try await project(context)
        return APIJSON.response(Self.ruleJSON(try await storedRule(context, project: project), project: project))
    }

    @Sendable func createRule(_ request: Request, context: Context) async throws -> Response {
        let project = try await project(context)
        let rule = try AlertRule(json: try await APIJSON.body(request, context: context), secret: Self.newSecret)
        let id = try await store.createAlertRule(rule, projectID: project.id, now: .now)
        guard let stored = try await store.alertRule(id: id, projectID: project.id) else { throw APIError.notFound("rule \(id) not found") }
        return APIJSON.response(Self.ruleJSON(stored, project: project), status: .created)
    }

    /// Replaces the rule with the body. A webhook action without `secret` keeps the secret of the same URL.
    @Sendable func updateRule(_ request: Request, context: Context) async throws -> Response {
        let project = try await project(context)
        let existing = try await storedRule(context, project: project)
        var secrets: [String: String] = [:]
        for case .webhook(let url, let secret) in existing.actions { secrets[url] = secret }
        let body = try await APIJSON.body(request, context: context)
        var rule = try AlertRule(json: body, secret: Self.newSecret)
        let given = body["actions"]?.arrayValue ?? []
        rule.actions = rule.actions.enumerated().map { index, action in
            guard case .webhook(let url, _) = action, index < given.count, given[index]["secret"] == nil || given[index]["secret"]?.isNull == true,
                let kept = secrets[url]
            else { return action }
            return .webhook(url: url, secret: kept)
        }
        guard let id = existing.id, try await store.updateAlertRule(rule, id: id, projectID: project.id, now: .now),
            let stored = try await store.alertRule(id: id, projectID: project.id)
        else { throw APIError.notFound("rule not found") }
        return APIJSON.response(Self.ruleJSON(stored, project: project))
    }

    @Sendable func deleteRule(_ request: Request, context: Context) async throws -> Response {
        let project = try await project(context)
        let id = try ruleID(context)
        guard try await store.deleteAlertRule(id: id, projectID: project.id) else { throw APIError.notFound("rule \(id) not found") }
        return Response(status: .noContent)
    }

    @Sendable func ruleDeliveries(_ request: Request, context: Context) async throws -> Response {
        let project = try await project(context)
        let rule = try await storedRule(context, project: project)
        let limit = try APIJSON.limit(request)
        let deliveries = try await store.deliveries(issueID: nil, ruleID: rule.id, limit: limit)
        return APIJSON.response(.array(deliveries.map(Self.deliveryJSON)))
    }

    @Sendable func issueDeliveries(_ request: Request, context: Context) async throws -> Response {
        let issue = try await issue(context)
        let limit = try APIJSON.limit(request)
        let deliveries = try await store.deliveries(issueID: issue.id, ruleID: nil, limit: limit)
        return APIJSON.response(.array(deliveries.map(Self.deliveryJSON)))
    }

    static func ruleJSON(_ rule: AlertRule, project: ProjectInfo) -> JSONValue {
        var object = rule.json
        object["id"] = .string(rule.id.map(String.init) ?? "")
        object["dateCreated"] = rule.created.map(APIJSON.date) ?? .null
        object["projects"] = [.string(project.slug)]
        return .object(object)
    }

    static func deliveryJSON(_ delivery: DeliveryInfo) -> JSONValue {
        [
            "id": .string(String(delivery.id)),
            "rule": ["id": delivery.ruleID.map { .string(String($0)) } ?? .null, "name": .string(delivery.ruleName)],
            "issue": ["id": delivery.issueID.map { .string(String($0)) } ?? .null, "shortId": .string(delivery.shortID)],
            "trigger": .string(delivery.trigger), "channel": .string(delivery.channel), "target": .string(delivery.target),
            "status": .string(delivery.status), "attempts": .number(JSONNumber(Int64(delivery.attempts))),
            "dateCreated": APIJSON.date(delivery.created), "dateDelivered": delivery.delivered.map(APIJSON.date) ?? .null,
            "nextAttempt": delivery.nextAttempt.map(APIJSON.date) ?? .null, "lastError": APIJSON.optional(delivery.lastError),
            "history": .array(
                delivery.history.map {
                    ["date": APIJSON.date($0.date), "outcome": $0.succeeded ? "ok" : "error", "detail": .string($0.detail)]
                }),
        ]
    }
}
