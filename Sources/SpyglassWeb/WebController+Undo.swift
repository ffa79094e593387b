import Crypto
import Foundation
import Hummingbird
import SpyglassCore
import SpyglassHTTP

/// Confirmation lines with Undo: a bulk change (resolve, ignore, merge; the stream's `r` and `i` keys) comes back
/// to the page it was made on with what it did and how to take it back, in the URL (`done=…` with the issues'
/// states before, `undo=ID~STATE`, or a merge's parent and the hashes to split out again, `unmerge=HASH`). Undo
/// is an ordinary bulk change: it checks access as the change did, and writes its own activity. The URL's undo
/// data is signed with the session's CSRF token (`sig`): a link someone else made shows no Undo, and a posted Undo
/// whose signature does not match changes nothing.
extension WebController {
    struct HiddenField {
        var name: String
        var value: String
    }

    /// "Resolved 2 issues." with the Undo form's fields, or a line saying why nothing happened.
    struct Confirmation {
        var text: String
        var undo: [HiddenField]
        var hasUndo: Bool
        /// The bulk action Undo posts: `undo` (statuses) or `unmerge`.
        var undoAction: String
        /// Where Undo comes back to.
        var returnURL: String
        /// A request that did nothing (nothing selected, one issue to merge): said in place, as an error.
        var isProblem: Bool
        /// The issue the change made, to open.
        var newIssueURL: String?
    }

    /// An issue's status as Undo restores it: `unresolved`, `resolved`, `resolved-next`, `resolved-in:VERSION`,
    /// `ignored`, `ignored:count:N`, `ignored:users:N`, `ignored:until:EPOCH`, `ignored:escalating`.
    static func undoState(_ issue: IssueInfo) -> String {
        switch issue.status {
        case .unresolved: return "unresolved"
        case .resolved:
            switch issue.resolution {
            case .inNextRelease?: return "resolved-next"
            case .inRelease(let version)?: return "resolved-in:" + version
            default: return "resolved"
            }
        case .ignored:
            switch issue.ignore?.condition {
            case .untilCount(let count)?: return "ignored:count:\(count)"
            case .untilUserCount(let count)?: return "ignored:users:\(count)"
            case .untilDate(let date)?: return "ignored:until:\(Formatting.whole(date.timeIntervalSince1970))"
            case .untilEscalating?: return "ignored:escalating"
            default: return "ignored"
            }
        }
    }

    /// The change that puts an issue back in `state` (nil for a state this page never wrote).
    static func undoChange(_ state: String, actorID: Int64) -> IssueChange? {
        var change = IssueChange(actorID: actorID)
        switch state {
        case "unresolved": change.status = .unresolved
        case "resolved": change.status = .resolved
        case "resolved-next":
            change.status = .resolved
            change.resolution = .inNextRelease(current: nil)
        case "ignored":
            change.status = .ignored
            change.ignore = .forever
        case "ignored:escalating":
            change.status = .ignored
            change.ignore = .untilEscalating
        default:
            if state.hasPrefix("resolved-in:"), state.count > 12 {
                change.status = .resolved
                change.resolution = .inRelease(String(state.dropFirst(12)))
                return change
            }
            let parts = state.split(separator: ":", maxSplits: 2)
            guard parts.count == 3, parts[0] == "ignored", let number = Int64(parts[2]), number > 0 else { return nil }
            change.status = .ignored
            switch parts[1] {
            case "count" where number <= Int64(Int32.max): change.ignore = .untilCount(Int(number))
            case "users" where number <= Int64(Int32.max): change.ignore = .untilUserCount(Int(number))
            case "until" where number <= 253_402_300_799: change.ignore = .untilDate(Date(timeIntervalSince1970: Double(number)))
            default: return nil
            }
        }
        return change
    }

    /// HMAC-SHA256 of `parts` with the session's CSRF token, as hex.
    static func undoSignature(_ parts: [String], session: WebSession) -> String {
        let message = Array(parts.joined(separator: "\n").utf8)
        return Hex.encode(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(session.csrfToken.utf8))))
    }

    /// Whether `signature` is this session's for `parts` (compared in constant time).
    static func validUndo(_ parts: [String], signature: String?, session: WebSession) -> Bool {
        guard let signature else { return false }
        return WebAuth.same(undoSignature(parts, session: session), signature)
    }

    /// `path` with `items` added to its query (the query it has is kept as it is written).
    static func appending(_ items: [URLQueryItem], to path: String) -> String {
        var components = URLComponents()
        components.queryItems = items
        // `+` in a query means a space to us: encode it.
        let extra = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let (base, fragment) = path.firstIndex(of: "#").map { (path[..<$0], path[$0...]) } ?? (path[...], "")
        return base + (base.contains("?") ? "&" : "?") + extra + fragment
    }

    /// The confirmation line a page shows after a bulk change came back to it (nil without one).
    func confirmation(
        _ parameters: FormQuery, returnURL: String, session: WebSession, visible: Set<Int64>
    ) async throws -> Confirmation? {
        func line(
            _ text: String, undo: [HiddenField] = [], action: String = "undo", problem: Bool = false, newIssue: Int64? = nil
        ) -> Confirmation {
            Confirmation(
                text: text, undo: undo, hasUndo: !undo.isEmpty, undoAction: action, returnURL: returnURL, isProblem: problem,
                newIssueURL: newIssue.map { issueURL($0) })
        }
        switch parameters.get("done") {
        case "resolve", "ignore":
            let entries = Array(parameters.getAll("undo").prefix(100))
            let verb = parameters.get("done") == "resolve" ? "Resolved" : "Ignored"
            // Only this session's own changes offer Undo.
            guard Self.validUndo(["undo"] + entries, signature: parameters.get("sig"), session: session) else { return nil }
            return line(
                "\(verb) \(Formatting.counted(entries.count, "issue")).",
                undo: entries.map { HiddenField(name: "undo", value: $0) } + [HiddenField(name: "sig", value: parameters.get("sig") ?? "")])
        case "merge":
            guard let parent = parameters.get("parent").flatMap({ Int64($0) }), let issue = try await storage.issues.issue(id: parent),
                visible.contains(issue.project.id)
            else { return nil }
            let merged = max(2, min(Int(parameters.get("n") ?? "") ?? 2, 100))
            let hashes = Array(parameters.getAll("unmerge").prefix(100))
            guard Self.validUndo(["unmerge", String(parent)] + hashes, signature: parameters.get("sig"), session: session) else {
                return line("Merged \(merged) issues into \(issue.shortIDText).")
            }
            return line(
                "Merged \(merged) issues into \(issue.shortIDText).",
                undo: [HiddenField(name: "parent", value: String(parent))] + hashes.map { HiddenField(name: "unmerge", value: $0) }
                    + [HiddenField(name: "sig", value: parameters.get("sig") ?? "")],
                action: "unmerge")
        case "unmerged":
            guard let id = parameters.get("new").flatMap({ Int64($0) }), let created = try await storage.issues.issue(id: id),
                visible.contains(created.project.id)
            else { return nil }
            let moved = max(0, min(Int(parameters.get("n") ?? "") ?? 0, 1_000_000_000))
            return line("Moved \(Formatting.counted(moved, "event")) into \(created.shortIDText).", newIssue: id)
        case "undone":
            return line("Undone: the issues are as they were.")
        case "split":
            let count = max(0, min(Int(parameters.get("n") ?? "") ?? 0, 100))
            return line("Undone: the merged issues are apart again (\(Formatting.counted(count, "new issue"))).")
        case "nothing":
            return line("Nothing selected: tick one or more issues first.", problem: true)
        case "one":
            return line("Select at least two issues of one project to merge.", problem: true)
        case "projects":
            return line("These issues belong to different projects: only issues of one project can be merged.", problem: true)
        default:
            return nil
        }
    }

    /// Undo of a resolve or ignore: each issue back in the state it had.
    /// Every entry is read and checked before any is applied.
    func undoStatuses(_ entries: [String], signature: String?, session: WebSession, visible: Set<Int64>) async throws {
        guard entries.count <= 100, Self.validUndo(["undo"] + entries, signature: signature, session: session) else {
            throw PageError(status: .badRequest, heading: "Cannot undo", text: "This Undo was not made by your session: nothing was changed.")
        }
        var changes: [(Int64, IssueChange)] = []
        for entry in entries {
            guard let tilde = entry.firstIndex(of: "~"), let id = Int64(entry[..<tilde]),
                let change = Self.undoChange(String(entry[entry.index(after: tilde)...]), actorID: session.user.id)
            else { throw PageError(status: .badRequest, heading: "Cannot undo", text: "undo: \"\(entry.prefix(100))\" is not a state this page wrote.") }
            guard let issue = try await storage.issues.issue(id: id), visible.contains(issue.project.id) else {
                throw PageError.notFound("There is no issue \(id), or you are not a member of its project.")
            }
            changes.append((id, change))
        }
        for (id, change) in changes { try await storage.issues.updateIssues(ids: [id], change: change, now: .now) }
    }

    /// Undo of a merge: the hashes the merged issues came by, split out of the parent again (one new issue each).
    func undoMerge(parent: Int64, hashes: [String], signature: String?, session: WebSession, visible: Set<Int64>) async throws -> Int {
        guard hashes.count <= 100, Self.validUndo(["unmerge", String(parent)] + hashes, signature: signature, session: session) else {
            throw PageError(status: .badRequest, heading: "Cannot undo the merge", text: "This Undo was not made by your session: nothing was changed.")
        }
        guard let issue = try await storage.issues.issue(id: parent), visible.contains(issue.project.id) else {
            throw PageError.notFound("There is no issue \(parent), or you are not a member of its project.")
        }
        // One transaction: a hash that can no longer be split out (split already, or the issue changed since) leaves
        // the merge as it is, not half undone.
        do {
            return try await storage.issues.unmerge(issueID: parent, hashes: hashes).count
        } catch let error as DomainError {
            throw PageError(status: .badRequest, heading: "Cannot undo the merge", text: error.message + " (nothing was changed)")
        }
    }
}
