/// A release version parsed as semver, the way Sentry orders `package@1.2.3-rc.1+45` releases.
///
/// Accepted: an optional `package@` prefix, then `MAJOR[.MINOR[.PATCH[.REVISION]]]`, an optional
/// `-prerelease` and an optional `+build`. Pre-releases sort before their release; build metadata breaks
/// ties (numerically when both are numbers).
public struct ReleaseVersion: Sendable, Hashable, Comparable {
    public var package: String?
    public var numbers: [UInt64]
    public var prerelease: [String]
    public var build: String?

    /// Parses `version`; `nil` when it is not semver-like.
    public init?(_ version: String) {
        var rest = Substring(version)
        if let at = rest.lastIndex(of: "@") {
            package = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        if let plus = rest.firstIndex(of: "+") {
            build = String(rest[rest.index(after: plus)...])
            guard !(build?.isEmpty ?? true) else { return nil }
            rest = rest[..<plus]
        }
        if let dash = rest.firstIndex(of: "-") {
            prerelease = rest[rest.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !prerelease.contains(where: \.isEmpty) else { return nil }
            rest = rest[..<dash]
        } else {
            prerelease = []
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), let number = UInt64(part) else { return nil }
            numbers.append(number)
        }
        while numbers.count < 3 { numbers.append(0) }
        self.numbers = numbers
    }

    public static func < (lhs: ReleaseVersion, rhs: ReleaseVersion) -> Bool {
        let count = max(lhs.numbers.count, rhs.numbers.count)
        for index in 0..<count {
            let left = index < lhs.numbers.count ? lhs.numbers[index] : 0
            let right = index < rhs.numbers.count ? rhs.numbers[index] : 0
            if left != right { return left < right }
        }
        // A pre-release comes before the release itself.
        switch (lhs.prerelease.isEmpty, rhs.prerelease.isEmpty) {
        case (false, true): return true
        case (true, false): return false
        case (false, false):
            for (left, right) in zip(lhs.prerelease, rhs.prerelease) where left != right {
                switch (UInt64(left), UInt64(right)) {
                case let (l?, r?): return l < r
                case (_?, nil): return true
                case (nil, _?): return false
                default: return left < right
                }
            }
            if lhs.prerelease.count != rhs.prerelease.count { return lhs.prerelease.count < rhs.prerelease.count }
        case (true, true): break
        }
        switch (lhs.build, rhs.build) {
        case let (l?, r?):
            if let left = UInt64(l), let right = UInt64(r) { return left < right }
            return l < r
        case (nil, _?): return true
        default: return false
        }
    }
}

/// A release as ordering needs it: its version and when it was created.
public struct ReleaseRef: Sendable, Hashable {
    public var version: String
    public var createdAt: Double

    public init(version: String, createdAt: Double) {
        self.version = version
        self.createdAt = createdAt
    }
}

/// How a project's releases are ordered: by semver when its recent releases follow semver, else by creation
/// time — Sentry's rule (`follows_semver_versioning_scheme`).
public struct ReleaseOrdering: Sendable {
    /// Whether semver ordering applies.
    public let semver: Bool

    /// Decides from the project's releases, newest (by creation) first.
    public init(recentNewestFirst versions: [String]) {
        let flags = versions.prefix(10).map { ReleaseVersion($0) != nil }
        if flags.isEmpty {
            semver = false
        } else if versions.count <= 2 {
            semver = flags[0]
        } else if versions.count < 10 {
            semver = flags.prefix(3).contains(true)
        } else {
            semver = flags.filter { $0 }.count >= 3 && flags.prefix(3).contains(true)
        }
    }

    public init(semver: Bool) { self.semver = semver }

    /// Whether `a` comes after `b`. Semver when it applies and both parse, else by creation time.
    public func isNewer(_ a: ReleaseRef, than b: ReleaseRef) -> Bool {
        if semver, let left = ReleaseVersion(a.version), let right = ReleaseVersion(b.version) { return right < left }
        return a.createdAt > b.createdAt
    }
}
