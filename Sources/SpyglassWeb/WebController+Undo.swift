import Foundation
import Hummingbird
import SpyglassCore
import SpyglassHTTP

/// Confirmation lines with Undo: a bulk change (resolve, ignore, merge; the stream's `r` and `i` keys) comes back
/// to the page it was made on with what it did and how to take it back, in the URL (`done=…` with the issues'
/// states before, `undo=ID~STATE`, or a merge's parent and the hashes to split out again, `unmerge=HASH`). Undo
/// is an ordinary bulk change: it checks access as the change did, and writes its own activity.
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
            case .untilDate(let date)?: return "ignored:until:\(Int64(date.timeIntervalSince1970.rounded(.down)))"
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
            case "count" where number <= 1_000_000: change.ignore = .untilCount(Int(number))
            case "users" where number <= 1_000_000: change.ignore = .untilUserCount(Int(number))
            case "until" where number <= 253_402_300_799: change.ignore = .untilDate(Date(timeIntervalSince1970: Double(number)))
            default: return nil
            }
        }
        return change
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
    func confirmation(_ parameters: FormQuery, returnURL: String) async throws -> Confirmation? {
        func line(
            _ text: String, undo: [HiddenField] = [], action: String = "undo", problem: Bool = false, newIssue: Int64? = nil
        ) -> Confirmation {
            Confirmation(
                text: text, undo: undo, hasUndo: !undo.isEmpty, undoAction: action, returnURL: returnURL, isProblem: problem,
                newIssueURL: newIssue.map { issueURL($0) })
        }
        switch parameters.get("done") {
        case "resolve", "ignore":
            let entries = parameters.getAll("undo").prefix(100)
            let verb = parameters.get("done") == "resolve" ? "Resolved" : "Ignored"
            return line("\(verb) \(Formatting.counted(entries.count, "issue")).", undo: entries.map { HiddenField(name: "undo", value: $0) })
        case "merge":
            guard let parent = parameters.get("parent").flatMap({ Int64($0) }), let issue = try await storage.issues.issue(id: parent)
            else { return nil }
            let merged = max(2, min(Int(parameters.get("n") ?? "") ?? 2, 100))
            let hashes = parameters.getAll("unmerge").prefix(100)
            return line(
                "Merged \(merged) issues into \(issue.shortIDText).",
                undo: [HiddenField(name: "parent", value: String(parent))] + hashes.map { HiddenField(name: "unmerge", value: $0) },
                action: "unmerge")
        case "unmerged":
            guard let id = parameters.get("new").flatMap({ Int64($0) }), let created = try await storage.issues.issue(id: id) else { return nil }
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
    func undoStatuses(_ entries: [String], session: WebSession, visible: Set<Int64>) async throws {
        for entry in entries.prefix(100) {
            guard let tilde = entry.firstIndex(of: "~"), let id = Int64(entry[..<tilde]),
                let change = Self.undoChange(String(entry[entry.index(after: tilde)...]), actorID: session.user.id)
            else { throw PageError(status: .badRequest, heading: "Cannot undo", text: "undo: \"\(entry)\" is not a state this page wrote.") }
            guard let issue = try await storage.issues.issue(id: id), visible.contains(issue.project.id) else {
                throw PageError.notFound("There is no issue \(id), or you are not a member of its project.")
            }
            try await storage.issues.updateIssues(ids: [id], change: change, now: .now)
        }
    }

    /// Undo of a merge: the hashes the merged issues came by, split out of the parent again (one new issue each).
    func undoMerge(parent: Int64, hashes: [String], visible: Set<Int64>) async throws -> Int {
        guard let issue = try await storage.issues.issue(id: parent), visible.contains(issue.project.id) else {
            throw PageError.notFound("There is no issue \(parent), or you are not a member of its project.")
        }
        var created = 0
        for hash in hashes.prefix(100) {
            do {
                _ = try await storage.issues.unmerge(issueID: parent, hash: hash)
                created += 1
            } catch let error as DomainError {
                throw PageError(status: .badRequest, heading: "Cannot undo the merge", text: error.message)
            }
        }
        return created
    }
}
