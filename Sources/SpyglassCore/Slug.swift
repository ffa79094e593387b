/// Project slugs as Sentry accepts them: lower-case letters, digits, `-` and `_`, at most 50 characters,
/// not only digits (a numeric slug would be mistaken for an id).
public enum Slug {
    /// The longest slug Sentry accepts.
    public static let maxLength = 50

    /// Checks `slug`; throws a ``DomainError`` naming the problem.
    public static func validate(_ slug: String) throws(DomainError) {
        guard !slug.isEmpty else { throw DomainError(.invalidInput, "slug must not be empty") }
        guard slug.count <= maxLength else {
            throw DomainError(.invalidInput, "slug \"\(slug)\" is longer than \(maxLength) characters")
        }
        guard slug.unicodeScalars.allSatisfy(isSlugCharacter) else {
            throw DomainError(
                .invalidInput, "slug \"\(slug)\" may contain only lower-case letters, digits, '-' and '_'")
        }
        guard !slug.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
            throw DomainError(.invalidInput, "slug \"\(slug)\" must not consist of digits only")
        }
    }

    /// Derives a slug from a display name: lower-cased, runs of other characters become one `-`.
    /// Returns `nil` when nothing usable is left (the caller then asks for an explicit slug).
    public static func derive(from name: String) -> String? {
        var slug = ""
        var pendingDash = false
        for scalar in name.lowercased().unicodeScalars {
            if isSlugCharacter(scalar) {
                if pendingDash && !slug.isEmpty { slug.append("-") }
                pendingDash = false
                slug.unicodeScalars.append(scalar)
            } else {
                pendingDash = true
            }
        }
        while slug.count > maxLength || slug.hasSuffix("-") {
            slug = String(slug.prefix(maxLength))
            while slug.hasSuffix("-") { slug.removeLast() }
        }
        return (try? validate(slug)) == nil ? nil : slug
    }

    private static func isSlugCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_"
    }
}
