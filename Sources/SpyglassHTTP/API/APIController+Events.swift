import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

extension APIController {
    @Sendable func issueEvents(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let limit = try APIJSON.limit(request)
        let offset = try APIJSON.offset(request)
        var events = try await storage.events.events(issueID: issue.id, limit: limit, offset: offset)
        let hasNext = events.count > limit
        events = Array(events.prefix(limit))
        let headers = APIJSON.link(request, baseURL: baseURL(request).absoluteString, offset: offset, limit: limit, hasNext: hasNext)
        return APIJSON.response(.array(events.map { SentryJSON.event($0) }), headers: headers)
    }

    /// `GET /projects/{org}/{project}/user-feedback/`: user reports and feedback items, newest first (Sentry's).
    @Sendable func projectFeedback(_ request: Request, context: Context) async throws -> Response {
        try await feedback(request, projectID: try project(context).id, issueID: nil)
    }

    /// `GET /issues/{id}/user-feedback/`: the feedback about the issue's stored events.
    @Sendable func issueFeedback(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        return try await feedback(request, projectID: issue.project.id, issueID: issue.id)
    }

    func feedback(_ request: Request, projectID: Int64, issueID: Int64?) async throws -> Response {
        let limit = try APIJSON.limit(request)
        let offset = try APIJSON.offset(request)
        var reports = try await storage.events.userFeedback(projectID: projectID, issueID: issueID, limit: limit, offset: offset)
        let hasNext = reports.count > limit
        reports = Array(reports.prefix(limit))
        let headers = APIJSON.link(request, baseURL: baseURL(request).absoluteString, offset: offset, limit: limit, hasNext: hasNext)
        return try APIJSON.response(encoding: reports.map(SentryJSON.UserFeedback.init), headers: headers)
    }

    @Sendable func latestEvent(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        guard let event = try await storage.events.latestEvent(issueID: issue.id) else {
            throw APIError.notFound("issue \(issue.id) has no stored events")
        }
        return try await eventResponse(event)
    }

    @Sendable func issueEvent(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let text = context.parameters.get("event_id") ?? ""
        guard let id = EventID.normalize(text), let event = try await storage.events.event(projectID: issue.project.id, eventID: id),
            event.issueID == issue.id
        else { throw APIError.notFound("event \"\(text)\" not found in issue \(issue.id)") }
        return try await eventResponse(event)
    }

    @Sendable func projectEvent(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let text = context.parameters.get("event_id") ?? ""
        guard let id = EventID.normalize(text), let event = try await storage.events.event(projectID: project.id, eventID: id) else {
            throw APIError.notFound("event \"\(text)\" not found in project \(project.slug)")
        }
        return try await eventResponse(event)
    }

    private func eventResponse(_ event: EventInfo) async throws -> Response {
        let (previous, next) = try await storage.events.neighbours(of: event)
        return APIJSON.response(SentryJSON.event(event, previous: previous, next: next))
    }
}
