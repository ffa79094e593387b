import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP
import SpyglassProtocol

extension WebController {
    struct RuleRow {
        var id: Int64
        var name: String
        var environment: String?
        var when: String
        var filters: String?
        var then: String
        var frequency: Int
        var enabled: Bool
    }

    struct RulesModel {
        var chrome: Chrome
        var project: ProjectInfo
        var base: String
        var notice: String?
        var rules: [RuleRow]
        /// Whether the user may change rules (others see them read-only).
        var canManage: Bool
        var canManageProject: Bool
    }

    struct RuleForm {
        var id: Int64?
        var action: String
        var name = ""
        var firstSeen = false, regression = false, reappeared = false
        var eventsOn = false, eventsCount = "100", eventsIntervals: [Choice] = []
        var usersOn = false, usersCount = "10", usersIntervals: [Choice] = []
        var levelOn = false, levelMatches: [Choice] = [], levels: [Choice] = []
        var tagOn = false, tagKey = "", tagValue = ""
        var ageOn = false, ageOlder = true, ageValue = "1", ageUnits: [Choice] = []
        var environment = ""
        var mailMembers = false, mailAddressesOn = false, addresses = ""
        /// The secret is write-only: the form shows whether one is set, never the secret.
        var webhookOn = false, webhookURL = "", secretHint = "none: unsigned", secretState = "secret not set"
        var slackOn = false, slackURL = ""
        var discordOn = false, discordURL = ""
        /// Where "Send test" posts the form (the action it tests is the button's value).
        var testURL = ""
        var frequency = String(AlertRule.defaultFrequency)
        var enabled = true
    }

    struct RuleModel {
        var chrome: Chrome
        var project: ProjectInfo
        var base: String
        var heading: String
        var error: String?
        var readOnly: Bool
        var canManage: Bool
        var canManageProject: Bool
        var form: RuleForm
        /// A secret just generated: shown once, on this page only.
        var newSecret: String?
        /// What the last "Send test" met, said beside the actions.
        var testOutcome: String?
        var testFailed: Bool
        /// Whether the server can send test notifications (the form shows the buttons).
        var canTest: Bool
    }

    func addAlertRuleRoutes(to pages: Pages) {
        let base = "settings/:org/projects/:project/alerts"
        add(pages, .get, base, .readAlertRules, alertRules)
        add(pages, .post, base, .manageAlertRules, saveAlertRule)
        add(pages, .get, base + "/new", .manageAlertRules, alertRuleForm)
        add(pages, .get, base + "/:rule_id", .readAlertRules, alertRuleForm)
        add(pages, .post, base + "/:rule_id", .manageAlertRules, saveAlertRule)
        add(pages, .post, base + "/:rule_id/toggle", .manageAlertRules, toggleAlertRule)
        add(pages, .post, base + "/:rule_id/delete", .manageAlertRules, deleteAlertRule)
        add(pages, .post, base + "/test", .manageAlertRules, testAlertAction)
        add(pages, .post, base + "/:rule_id/test", .manageAlertRules, testAlertAction)
    }

    func alertRules(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await alertRulesPage(context, notice: nil)
    }

    func alertRulesPage(_ context: AppRequestContext, notice: String?) async throws -> Response {
        let (session, project, projects) = try managedProject(context)
        let rules = try await storage.alertRules.alertRules(projectID: project.id).compactMap { rule -> RuleRow? in
            guard let id = rule.id else { return nil }
            return RuleRow(
                id: id, name: rule.name, environment: rule.environment,
                when: rule.conditions.compactMap { $0.json["name"]?.stringValue }.joined(separator: rule.actionMatch == .all ? " and " : " or "),
                filters: rule.filters.isEmpty ? nil : rule.filters.map(Self.describe).joined(separator: rule.filterMatch == .any ? " or " : " and "),
                then: rule.actions.map(Self.describe).joined(separator: ", "), frequency: rule.frequencyMinutes, enabled: rule.enabled)
        }
        let model = RulesModel(
            chrome: try await chrome(context, session, projects: projects, current: project.id, section: .settings), project: project,
            base: settingsBase(project), notice: notice, rules: rules, canManage: try canManageRules(context, project),
            canManageProject: try access(context).viewer.may(.manageProjectSettings, in: project.id))
        return render("alert-rules", model)
    }

    func canManageRules(_ context: AppRequestContext, _ project: ProjectInfo) throws -> Bool {
        try access(context).viewer.may(.manageAlertRules, in: project.id)
    }

    static func describe(_ filter: AlertFilter) -> String {
        switch filter {
        case .level(let comparison, let level):
            "level \(["eq": "is", "gte": "is at least", "lte": "is at most"][comparison.rawValue] ?? "is") \(level)"
        case .tag(let key, let value): "tag \(key) = \(value)"
        case .age(let age, let seconds): "issue \(age.rawValue) than \(Formatting.age(Date(timeIntervalSince1970: 0), now: Date(timeIntervalSince1970: seconds)))"
        }
    }

    static func describe(_ action: AlertAction) -> String {
        switch action {
        case .email(.members): "e-mail the members"
        case .email(.addresses(let list)): "e-mail " + list.joined(separator: ", ")
        case .webhook(let url, let secret): "webhook \(url) (secret \(secret.isEmpty ? "not set" : "set"))"
        case .slack: "Slack"
        case .discord: "Discord"
        }
    }

    func ruleID(_ context: AppRequestContext) -> Int64? { context.parameters.get("rule_id").flatMap { Int64($0) } }

    func alertRuleForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, project, _) = try managedProject(context)
        var rule: AlertRule?
        if let id = ruleID(context) { rule = try await storedRule(id, project: project) }
        return try await rulePage(context, form: Self.form(rule, action: ruleAction(project, context)), readOnly: rule.map { !Self.fitsForm($0) } ?? false, error: nil, status: .ok)
    }

    func ruleAction(_ project: ProjectInfo, _ context: AppRequestContext) -> String {
        settingsBase(project) + "alerts/" + (ruleID(context).map { "\($0)/" } ?? "")
    }

    func rulePage(
        _ context: AppRequestContext, form: RuleForm, readOnly: Bool, error: String?, status: HTTPResponse.Status,
        newSecret: String? = nil, test: AlertTestOutcome? = nil
    ) async throws -> Response {
        let (session, project, projects) = try managedProject(context)
        var form = form
        form.testURL = form.action + "test/"
        func choices(_ values: [(String, String)], selected: String) -> [Choice] {
            values.map { Choice(value: $0.0, label: $0.1, selected: $0.0 == selected) }
        }
        let intervals = [("1m", "1 minute"), ("5m", "5 minutes"), ("15m", "15 minutes"), ("1h", "1 hour"), ("1d", "1 day"), ("1w", "1 week")]
        form.eventsIntervals = choices(intervals, selected: form.eventsIntervals.first(where: \.selected)?.value ?? "1h")
        form.usersIntervals = choices(intervals, selected: form.usersIntervals.first(where: \.selected)?.value ?? "1h")
        form.levelMatches = choices([("eq", "equal to"), ("gte", "at least"), ("lte", "at most")], selected: form.levelMatches.first(where: \.selected)?.value ?? "gte")
        form.levels = choices(["debug", "info", "warning", "error", "fatal"].map { ($0, $0) }, selected: form.levels.first(where: \.selected)?.value ?? "error")
        form.ageUnits = choices([("minute", "minutes"), ("hour", "hours"), ("day", "days"), ("week", "weeks")], selected: form.ageUnits.first(where: \.selected)?.value ?? "day")
        let model = RuleModel(
            chrome: try await chrome(context, session, projects: projects, current: project.id, section: .settings), project: project,
            base: settingsBase(project), heading: form.id == nil ? "New alert rule" : "Alert rule", error: error, readOnly: readOnly,
            canManage: try canManageRules(context, project),
            canManageProject: try access(context).viewer.may(.manageProjectSettings, in: project.id), form: form,
            newSecret: newSecret, testOutcome: test.map { $0.succeeded ? "Test notification sent: \($0.detail)." : "Test notification failed: \($0.detail)" },
            testFailed: test.map { !$0.succeeded } ?? false, canTest: alertChecker != nil)
        return render("alert-rule", model, status: status)
    }

    /// Whether the form shows all of the rule (one of each filter and action kind, Sentry's default match modes).
    static func fitsForm(_ rule: AlertRule) -> Bool {
        func count(_ test: (AlertAction) -> Bool) -> Int { rule.actions.filter(test).count }
        let filterKinds = rule.filters.map { filter -> Int in
            switch filter {
            case .level: 0
            case .tag: 1
            case .age: 2
            }
        }
        let conditionKinds = rule.conditions.map { "\($0.trigger)" }
        return rule.actionMatch == .any && rule.filterMatch == .all && Set(filterKinds).count == filterKinds.count
            && Set(conditionKinds).count == conditionKinds.count
            && count({ if case .email(.members) = $0 { true } else { false } }) <= 1
            && count({ if case .email(.addresses) = $0 { true } else { false } }) <= 1
            && count({ if case .webhook = $0 { true } else { false } }) <= 1
            && count({ if case .slack = $0 { true } else { false } }) <= 1
            && count({ if case .discord = $0 { true } else { false } }) <= 1
    }

    static func form(_ rule: AlertRule?, action: String) -> RuleForm {
        var form = RuleForm(id: rule?.id, action: action)
        // A new rule starts with nothing chosen: what it fires on and what it does are the user's to pick.
        guard let rule else { return form }
        form.name = rule.name
        form.environment = rule.environment ?? ""
        form.frequency = String(rule.frequencyMinutes)
        form.enabled = rule.enabled
        for condition in rule.conditions {
            switch condition {
            case .firstSeen: form.firstSeen = true
            case .regression: form.regression = true
            case .reappeared: form.reappeared = true
            case .eventFrequency(let count, let interval):
                form.eventsOn = true
                form.eventsCount = String(count)
                form.eventsIntervals = [Choice(value: interval.rawValue, label: "", selected: true)]
            case .uniqueUserFrequency(let count, let interval):
                form.usersOn = true
                form.usersCount = String(count)
                form.usersIntervals = [Choice(value: interval.rawValue, label: "", selected: true)]
            }
        }
        for filter in rule.filters {
            switch filter {
            case .level(let comparison, let level):
                form.levelOn = true
                form.levelMatches = [Choice(value: comparison.rawValue, label: "", selected: true)]
                form.levels = [Choice(value: level, label: "", selected: true)]
            case .tag(let key, let value):
                form.tagOn = true
                form.tagKey = key
                form.tagValue = value
            case .age(let age, _):
                form.ageOn = true
                form.ageOlder = age == .older
                let json = filter.json
                form.ageValue = Formatting.text(json["value"])
                form.ageUnits = [Choice(value: json["time"]?.stringValue ?? "day", label: "", selected: true)]
            }
        }
        for action in rule.actions {
            switch action {
            case .email(.members): form.mailMembers = true
            case .email(.addresses(let list)):
                form.mailAddressesOn = true
                form.addresses = list.joined(separator: ", ")
            case .webhook(let url, let secret):
                form.webhookOn = true
                form.webhookURL = url
                form.secretHint = secret.isEmpty ? "none: unsigned" : "unchanged if empty"
                form.secretState = secret.isEmpty ? "secret not set" : "secret set"
            case .slack(let url):
                form.slackOn = true
                form.slackURL = url
            case .discord(let url):
                form.discordOn = true
                form.discordURL = url
            }
        }
        return form
    }

    /// The rule's JSON (the API's shape) from the form, so the API's checks apply with the same messages.
    static func ruleJSON(_ fields: FormQuery) -> JSONValue {
        let when = Set(fields.getAll("when")), filters = Set(fields.getAll("if")), then = Set(fields.getAll("then"))
        func text(_ name: String) -> String { fields.get(name)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
        var conditions: [JSONValue] = []
        for id in ["first_seen", "regression", "reappeared"] where when.contains(id) { conditions.append(["id": .string(id)]) }
        if when.contains("events") {
            conditions.append(["id": "event_frequency", "value": .string(text("events_count")), "interval": .string(text("events_interval"))])
        }
        if when.contains("users") {
            conditions.append(["id": "event_unique_user_frequency", "value": .string(text("users_count")), "interval": .string(text("users_interval"))])
        }
        var filterList: [JSONValue] = []
        if filters.contains("level") { filterList.append(["id": "level", "match": .string(text("level_match")), "level": .string(text("level"))]) }
        if filters.contains("tag") { filterList.append(["id": "tagged_event", "key": .string(text("tag_key")), "match": "eq", "value": .string(text("tag_value"))]) }
        if filters.contains("age") {
            filterList.append(["id": "age_comparison", "comparison_type": .string(text("age_type")), "value": .string(text("age_value")), "time": .string(text("age_unit"))])
        }
        var actions: [JSONValue] = []
        if then.contains("members") { actions.append(["id": "email", "targetType": "Members"]) }
        if then.contains("addresses") {
            let list = text("addresses").split(whereSeparator: { $0 == "," || $0 == ";" || $0.isWhitespace }).map { JSONValue.string(String($0)) }
            actions.append(["id": "email", "targetType": "Addresses", "addresses": .array(list)])
        }
        if then.contains("webhook") {
            var webhook: JSONObject = ["id": "webhook", "url": .string(text("webhook_url"))]
            if !text("webhook_secret").isEmpty { webhook["secret"] = .string(text("webhook_secret")) }
            actions.append(.object(webhook))
        }
        if then.contains("slack") { actions.append(["id": "slack", "url": .string(text("slack_url"))]) }
        if then.contains("discord") { actions.append(["id": "discord", "url": .string(text("discord_url"))]) }
        return [
            "name": .string(text("name")), "frequency": .string(text("frequency")),
            "environment": text("environment").isEmpty ? .null : .string(text("environment")),
            "status": fields.get("enabled") == "1" ? "active" : "disabled", "actionMatch": "any", "filterMatch": "all",
            "conditions": .array(conditions), "filters": .array(filterList), "actions": .array(actions),
        ]
    }

    func saveAlertRule(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (session, project, _) = try managedProject(context)
        let fields = try await form(request, session: session)
        let id = ruleID(context)
        var existing: AlertRule?
        if let id {
            let found = try await storedRule(id, project: project)
            guard Self.fitsForm(found) else {
                throw PageError(status: .conflict, heading: "Edit through the API", text: "This rule uses more than the form shows; change it through the API.")
            }
            existing = found
        }
        // A webhook keeps its secret when the field is left empty (secrets are write-only; none: unsigned), or gets a
        // new one generated here, shown once.
        let newSecret =
            fields.get("regenerate_secret") == "1" && fields.getAll("then").contains("webhook") ? WebAuth.randomToken() : nil
        let rule: AlertRule
        do {
            rule = try postedRule(fields, id: id, existing: existing, newSecret: newSecret)
            if let checker = alertChecker, let refusal = await rule.webhookRefusal(checker) {
                let name = ["webhook": "webhook", "slack": "Slack", "discord": "Discord"][refusal.action.channel] ?? refusal.action.channel
                throw DomainError(.invalidInput, "Not saved: the \(name) URL would never be called: \(refusal.reason).")
            }
        } catch let error as DomainError {
            // Show the form again as it was posted, with the message.
            return try await rulePage(context, form: postedForm(fields, project: project, context: context, id: id), readOnly: false, error: error.message, status: .badRequest)
        }
        var savedID = id
        if let id {
            guard try await storage.alertRules.updateAlertRule(rule, id: id, projectID: project.id, now: .now) else {
                throw PageError.notFound("Project \(project.slug) has no alert rule \(id).")
            }
        } else {
            savedID = try await storage.alertRules.createAlertRule(rule, projectID: project.id, now: .now)
        }
        guard let newSecret, let savedID, let stored = try await storage.alertRules.alertRule(id: savedID, projectID: project.id) else {
            return WebResponse.redirect(settingsBase(project) + "alerts/")
        }
        // The new secret, once: the rule's page with it, never again.
        return try await rulePage(
            context, form: Self.form(stored, action: settingsBase(project) + "alerts/\(savedID)/"), readOnly: false, error: nil,
            status: .ok, newSecret: newSecret)
    }

    /// The rule as posted; a webhook without a secret in the form keeps the stored one (or takes `newSecret`).
    func postedRule(_ fields: FormQuery, id: Int64?, existing: AlertRule?, newSecret: String?) throws(DomainError) -> AlertRule {
        let oldSecret = existing?.actions.compactMap { action -> String? in if case .webhook(_, let secret) = action { secret } else { nil } }.first
        var rule = try AlertRule(json: Self.ruleJSON(fields), id: id, secret: { oldSecret ?? "" })
        if let newSecret {
            rule.actions = rule.actions.map { action in
                if case .webhook(let url, _) = action { .webhook(url: url, secret: newSecret) } else { action }
            }
        }
        return rule
    }

    func postedForm(_ fields: FormQuery, project: ProjectInfo, context: AppRequestContext, id: Int64?) -> RuleForm {
        var rebuilt = Self.refill(Self.form(nil, action: ruleAction(project, context)), fields)
        rebuilt.id = id
        return rebuilt
    }

    /// The project's rule `id`; a page saying there is none otherwise.
    func storedRule(_ id: Int64, project: ProjectInfo) async throws -> AlertRule {
        guard let found = try await storage.alertRules.alertRule(id: id, projectID: project.id) else {
            throw PageError.notFound("Project \(project.slug) has no alert rule \(id).")
        }
        return found
    }

    /// "Send test" beside an action: sends a test notification through the action as the form has it now (saved or
    /// not) and shows the form again, as posted, with what happened.
    func testAlertAction(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (session, project, _) = try managedProject(context)
        let fields = try await form(request, session: session)
        let id = ruleID(context)
        var existing: AlertRule?
        if let id { existing = try await storedRule(id, project: project) }
        let posted = postedForm(fields, project: project, context: context, id: id)
        guard let checker = alertChecker else {
            return try await rulePage(context, form: posted, readOnly: false, error: "This server cannot send test notifications.", status: .ok)
        }
        let rule: AlertRule
        do {
            rule = try postedRule(fields, id: id, existing: existing, newSecret: nil)
        } catch {
            return try await rulePage(context, form: posted, readOnly: false, error: error.message, status: .badRequest)
        }
        let wanted = fields.get("test") ?? ""
        let action = rule.actions.first { action in
            switch (wanted, action) {
            case ("members", .email(.members)), ("addresses", .email(.addresses)), ("webhook", .webhook), ("slack", .slack),
                ("discord", .discord): true
            default: false
            }
        }
        guard var action else {
            return try await rulePage(
                context, form: posted, readOnly: false, error: "Check the action to test, and fill it in, first.", status: .badRequest)
        }
        if case .email(.members) = action {
            action = .email(.addresses(try await storage.projects.members(projectID: project.id).filter(\.isActive).map(\.email)))
        }
        let outcome = await checker.sendTest(action, ruleName: rule.name, project: project)
        return try await rulePage(context, form: posted, readOnly: false, error: nil, status: .ok, test: outcome)
    }

    /// The form with what was posted (after an error).
    static func refill(_ form: RuleForm, _ fields: FormQuery) -> RuleForm {
        var form = form
        let when = Set(fields.getAll("when")), filters = Set(fields.getAll("if")), then = Set(fields.getAll("then"))
        func text(_ name: String) -> String { fields.get(name) ?? "" }
        func selected(_ name: String) -> [Choice] { [Choice(value: text(name), label: "", selected: true)] }
        form.name = text("name")
        form.firstSeen = when.contains("first_seen")
        form.regression = when.contains("regression")
        form.reappeared = when.contains("reappeared")
        form.eventsOn = when.contains("events")
        form.eventsCount = text("events_count")
        form.eventsIntervals = selected("events_interval")
        form.usersOn = when.contains("users")
        form.usersCount = text("users_count")
        form.usersIntervals = selected("users_interval")
        form.levelOn = filters.contains("level")
        form.levelMatches = selected("level_match")
        form.levels = selected("level")
        form.tagOn = filters.contains("tag")
        form.tagKey = text("tag_key")
        form.tagValue = text("tag_value")
        form.ageOn = filters.contains("age")
        form.ageOlder = text("age_type") != "newer"
        form.ageValue = text("age_value")
        form.ageUnits = selected("age_unit")
        form.environment = text("environment")
        form.mailMembers = then.contains("members")
        form.mailAddressesOn = then.contains("addresses")
        form.addresses = text("addresses")
        form.webhookOn = then.contains("webhook")
        form.webhookURL = text("webhook_url")
        form.slackOn = then.contains("slack")
        form.slackURL = text("slack_url")
        form.discordOn = then.contains("discord")
        form.discordURL = text("discord_url")
        form.frequency = text("frequency")
        form.enabled = fields.get("enabled") == "1"
        return form
    }

    func toggleAlertRule(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (session, project, _) = try managedProject(context)
        _ = try await form(request, session: session)
        guard let id = ruleID(context), var rule = try await storage.alertRules.alertRule(id: id, projectID: project.id) else {
            throw PageError.notFound("Project \(project.slug) has no such alert rule.")
        }
        rule.enabled.toggle()
        _ = try await storage.alertRules.updateAlertRule(rule, id: id, projectID: project.id, now: .now)
        return try await alertRulesPage(context, notice: "\(rule.name): \(rule.enabled ? "active" : "disabled").")
    }

    func deleteAlertRule(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (session, project, _) = try managedProject(context)
        _ = try await form(request, session: session)
        guard let id = ruleID(context), try await storage.alertRules.deleteAlertRule(id: id, projectID: project.id) else {
            throw PageError.notFound("Project \(project.slug) has no such alert rule.")
        }
        return try await alertRulesPage(context, notice: "Rule deleted.")
    }
}
