import SpyglassCore

/// A project's releases with the ordering Sentry would use for them: its ``recentLimit`` newest releases (for the
/// ordering and ``latest``) and any others a decision names. Each backend loads the rows.
package struct ReleaseBook {
    /// How many of the project's newest releases decide the ordering: `ORDER BY created_at DESC, id DESC LIMIT 10`.
    package static let recentLimit = 10

    package let ordering: ReleaseOrdering
    private let releases: [String: ReleaseRef]

    /// `recent`: the project's newest releases, newest first; `named`: releases looked up by version besides.
    package init(recentNewestFirst recent: [ReleaseRef], named: [ReleaseRef] = []) {
        var releases = Dictionary(recent.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        for release in named where releases[release.version] == nil { releases[release.version] = release }
        self.releases = releases
        ordering = ReleaseOrdering(recentNewestFirst: recent.map(\.version))
    }

    /// Whether a named version still needs looking up (it is not among the recent ones).
    package func lacks(_ version: String) -> Bool { releases[version] == nil }

    package func release(_ version: String) -> ReleaseRef? { releases[version] }

    /// The newest release by the project's ordering.
    package var latest: ReleaseRef? {
        releases.values.max { ordering.isNewer($1, than: $0) }
    }
}
