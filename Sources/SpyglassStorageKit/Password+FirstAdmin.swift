import SpyglassCore

extension Password {
    /// The first admin's password, for a bootstrap: `configured` when given (validated), else a generated one-time
    /// password; with its bcrypt hash. Slow (bcrypt): call it before the transaction, not inside.
    package static func forFirstAdmin(_ configured: String?) throws(DomainError) -> (
        plain: String, hash: String, generated: Bool
    ) {
        if let configured { try validate(configured) }
        let plain = configured ?? generate()
        return (plain, hash(plain), configured == nil)
    }
}
