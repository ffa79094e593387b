import Foundation

/// `IssueQuery.parse`: the search box of the UI and the API's `query=`.
enum QueryTarget {
    static let now = Date(timeIntervalSince1970: 1_795_000_000)

    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let query = try? IssueQuery.parse(text, now: now) else { return }
        // What the stores read of a query.
        _ = (query.statuses, query.levels, query.releases, query.environments, query.tags, query.text, query.assigned)
        _ = [query.firstSeenAfter, query.firstSeenBefore, query.lastSeenAfter, query.lastSeenBefore].compactMap {
            $0?.timeIntervalSince1970
        }
    }
}
