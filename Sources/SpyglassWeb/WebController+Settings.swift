import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP
import SpyglassProtocol

extension WebController {
    struct KeyRow {
        var id: Int64
        var label: String
        var dsn: String
        var rate: String
        var active: Bool
    }

    struct MemberRow {
        var userID: Int64
        var email: String
        var role: String
        var active: Bool
    }

    struct ProjectSettingsModel {
        var chrome: Chrome
        var project: ProjectInfo
        var base: String
        var notice: String?
        var error: String?
        var keys: [KeyRow]
        var resolveAge: String
        var retention: String
        var retentionDays: String
        var serverDays: Int
        var logRetention: String
        var logDays: String
        var logMiB: String
        var serverLogDays: Int
        var members: [MemberRow]
    }

    func addSettingsRoutes(to pages: Pages) {
        let base = "settings/:org/projects/:project"
        add(pages, .get, base, .manageProjectSettings) { request, context in try await projectSettings(request, context, status: .ok) }
        add(pages, .post, base + "/keys", .manageProjectSettings, createKey)
        add(pages, .post, base + "/keys/:key_id", .manageProjectSettings, changeKey)
        add(pages, .post, base + "/resolve-age", .manageProjectSettings, changeResolveAge)
        add(pages, .post, base + "/retention", .manageProjectSettings, changeRetention)
        add(pages, .post, base + "/log-retention", .manageProjectSettings, changeLogRetention)
        add(pages, .post, base + "/members", .manageProjectSettings, addMember)
        add(pages, .post, base + "/members/:user_id/remove", .manageProjectSettings, removeMember)
    }

    /// The session, the project in the path (the policy checked the route's action on it) and the projects the
    /// user may read (for the switcher).
    func managedProject(_ context: AppRequestContext) throws -> (WebSession, ProjectInfo, [ProjectInfo]) {
        let session = try session(context)
        let access = try access(context)
        guard let project = access.project else { throw PageError.notFound("There is no such project.") }
        return (session, project, access.projects(allowing: .readProject))
    }

    func settingsBase(_ project: ProjectInfo) -> String { "/settings/\(organization)/projects/\(project.slug)/" }

    func dsn(_ key: KeyInfo, projectID: Int64, request: Request) -> String {
        let base = baseURL ?? URL(string: "http://\(request.head.authority ?? "127.0.0.1")") ?? URL(filePath: "/")
        return DSN(baseURL: base, publicKey: key.publicKey, projectID: Int(projectID))?.description ?? ""
    }

    func projectSettings(
        _ request: Request, _ context: AppRequestContext, status: HTTPResponse.Status, notice: String? = nil, error: String? = nil
    ) async throws -> Response {
        let (session, project, projects) = try managedProject(context)
        let keys = try await storage.projects.keys(projectID: project.id).map {
            KeyRow(
                id: $0.id, label: $0.label, dsn: dsn($0, projectID: project.id, request: request),
                rate: $0.rateLimitPerMinute.map(String.init) ?? "", active: $0.isActive)
        }
        let members = try await storage.projects.members(projectID: project.id).map {
            MemberRow(userID: $0.userID, email: $0.email, role: $0.role.rawValue, active: $0.isActive)
        }
        let days = Int(saturating: retention.maxAge / 86_400)
        let projectDays = try await storage.projects.retentionDays(projectID: project.id)
        let effective = min(days, projectDays ?? days)
        let logs = try await storage.logs.logRetention(projectID: project.id)
        let logDays = logs.days ?? retention.logDays
        let mebibytes = logs.maxBytes.map { Int(clamping: $0 / (1024 * 1024)) }
        let model = ProjectSettingsModel(
            chrome: try await chrome(context, session, projects: projects, current: project.id, section: .settings), project: project,
            base: settingsBase(project), notice: notice, error: error, keys: keys,
            resolveAge: try await storage.projects.resolveAge(projectID: project.id).map(String.init) ?? "",
            retention: "Events are kept for \(effective) day\(effective == 1 ? "" : "s"), at most \(Formatting.count(retention.maxEventsPerProject)) per project.",
            retentionDays: projectDays.map(String.init) ?? "", serverDays: days,
            logRetention: "Log lines are kept for \(logDays) day\(logDays == 1 ? "" : "s")"
                + (mebibytes.map { ", at most \(Formatting.count($0)) MiB of them." } ?? ", whatever their size."),
            logDays: logs.days.map(String.init) ?? "", logMiB: mebibytes.map(String.init) ?? "", serverLogDays: retention.logDays,
            members: members)
        return render("project-settings", model, status: status)
    }

    /// Runs a settings change; a domain error shows on the settings page instead of a bare error page.
    func settingsChange(
        _ request: Request, _ context: AppRequestContext, notice: String,
        _ change: (WebSession, ProjectInfo, FormQuery) async throws -> Void
    ) async throws -> Response {
        let (session, project, _) = try managedProject(context)
        let fields = try await form(request, session: session)
        do {
            try await change(session, project, fields)
        } catch let error as DomainError {
            return try await projectSettings(request, context, status: error.httpStatus, error: error.message)
        }
        return try await projectSettings(request, context, status: .ok, notice: notice)
    }

    @Sendable func createKey(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await settingsChange(request, context, notice: "Key created.") { _, project, fields in
            let label = fields.get("label")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard !label.isEmpty, label.count <= 64 else { throw DomainError(.invalidInput, "label: 1 to 64 characters") }
            try await storage.projects.createKey(projectID: project.id, label: label, now: .now)
        }
    }

    @Sendable func changeKey(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await settingsChange(request, context, notice: "Key saved.") { _, project, fields in
            guard let id = context.parameters.get("key_id").flatMap({ Int64($0) }) else { throw DomainError(.notFound, "no such key") }
            var active: Bool?
            var limit: Int??
            switch fields.get("action") {
            case "revoke": active = false
            case "activate": active = true
            case "rate-limit":
                let text = fields.get("rate")?.trimmingCharacters(in: .whitespaces) ?? ""
                if text.isEmpty {
                    limit = .some(nil)
                } else {
                    guard let number = Int(text), number > 0, number <= 1_000_000 else {
                        throw DomainError(.invalidInput, "rate limit: a whole number of events per minute from 1 to 1000000, or empty for none")
                    }
                    limit = .some(number)
                }
            default: throw DomainError(.invalidInput, "action: revoke, activate or rate-limit")
            }
            guard try await storage.projects.updateKey(id: id, projectID: project.id, isActive: active, rateLimitPerMinute: limit) else {
                throw DomainError(.notFound, "project \(project.slug) has no key \(id)")
            }
        }
    }

    @Sendable func changeResolveAge(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await settingsChange(request, context, notice: "Auto-resolve saved.") { _, project, fields in
            let text = fields.get("hours")?.trimmingCharacters(in: .whitespaces) ?? ""
            var hours: Int?
            if !text.isEmpty {
                guard let number = Int(text), number > 0, number <= 24 * 365 * 10 else {
                    throw DomainError(.invalidInput, "hours: a whole number of hours from 1 to 87600, or empty for never")
                }
                hours = number
            }
            try await storage.projects.setResolveAge(projectID: project.id, hours: hours)
        }
    }

    @Sendable func changeRetention(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await settingsChange(request, context, notice: "Retention saved.") { _, project, fields in
            let text = fields.get("days")?.trimmingCharacters(in: .whitespaces) ?? ""
            var days: Int?
            if !text.isEmpty {
                guard let number = Int(text), number > 0, number <= 36_500 else {
                    throw DomainError(.invalidInput, "retention: a whole number of days from 1 to 36500, or empty for the server's")
                }
                days = number
            }
            try await storage.projects.setRetentionDays(projectID: project.id, days: days)
        }
    }

    @Sendable func changeLogRetention(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await settingsChange(request, context, notice: "Log retention saved.") { _, project, fields in
            var retention = LogRetention()
            let days = fields.get("days")?.trimmingCharacters(in: .whitespaces) ?? ""
            if !days.isEmpty {
                guard let number = Int(days), (1...3650).contains(number) else {
                    throw DomainError(.invalidInput, "log days: a whole number of days from 1 to 3650, or empty for the server's")
                }
                retention.days = number
            }
            let size = fields.get("mib")?.trimmingCharacters(in: .whitespaces) ?? ""
            if !size.isEmpty {
                guard let number = Int64(size), (1...1_048_576).contains(number) else {
                    throw DomainError(.invalidInput, "log size: a whole number of MiB from 1 to 1048576, or empty for no limit")
                }
                retention.maxBytes = number * 1024 * 1024
            }
            try await storage.logs.setLogRetention(projectID: project.id, retention)
        }
    }

    @Sendable func addMember(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await settingsChange(request, context, notice: "Member added.") { _, project, fields in
            let text = fields.get("role") ?? ProjectRole.member.rawValue
            guard let role = ProjectRole(rawValue: text) else {
                throw DomainError(.invalidInput, "role: \"\(text)\" is not admin or member")
            }
            try await storage.projects.addMember(projectID: project.id, email: fields.get("email") ?? "", role: role, now: .now)
        }
    }

    @Sendable func removeMember(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await settingsChange(request, context, notice: "Member removed.") { _, project, _ in
            guard let userID = context.parameters.get("user_id").flatMap({ Int64($0) }) else { throw DomainError(.notFound, "no such member") }
            try await storage.projects.removeMember(projectID: project.id, userID: userID)
        }
    }
}
