/// An error of the server's domain with a message a user can act on.
///
/// Adapters map the ``Kind`` to their own terms (HTTP status, exit code); new kinds don't break callers.
public struct DomainError: Error, Hashable, CustomStringConvertible {
    /// What went wrong, coarsely.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Code: Hashable, Sendable { case invalidInput, notFound, conflict, unavailable }
        private let code: Code
        /// The input is malformed or out of range.
        public static let invalidInput = Kind(code: .invalidInput)
        /// The named thing does not exist.
        public static let notFound = Kind(code: .notFound)
        /// The request clashes with what is stored (a taken slug, id or key).
        public static let conflict = Kind(code: .conflict)
        /// A dependency (the database, the disk) cannot serve the request now.
        public static let unavailable = Kind(code: .unavailable)

        public var description: String {
            switch code {
            case .invalidInput: "invalid input"
            case .notFound: "not found"
            case .conflict: "conflict"
            case .unavailable: "unavailable"
            }
        }
    }

    /// The kind of failure.
    public let kind: Kind
    /// What is wrong and where, for the user.
    public let message: String

    /// Creates an error of `kind` with a user-facing message.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
