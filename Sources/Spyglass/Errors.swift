import Foundation

/// An error that knows the error that caused it; the SDK reports the chain.
public protocol ErrorWithCause: Error {
    var underlyingError: (any Error)? { get }
}

/// An error with the stack where it was created: Swift errors carry none, so wrap them where they are
/// thrown (`throw TracedError(error)`) or use ``SpyglassSDK/trace(_:)``.
public struct TracedError: Error, ErrorWithCause, CustomStringConvertible, @unchecked Sendable {
    public let error: any Error
    public let stack: CapturedStack?

    public init(_ error: any Error) {
        self.error = error
        self.stack = CapturedStack.capture(skip: 1)
    }

    public var underlyingError: (any Error)? { nil }
    public var description: String { String(describing: error) }
}

enum ErrorDescription {
    /// The chain of `error`, innermost cause first (Sentry's order), at most 10 deep.
    static func exceptions(_ error: any Error, stack fallback: CapturedStack?, mechanism: String, handled: Bool) -> [ExceptionValue] {
        var chain: [ExceptionValue] = []
        var current: (any Error)? = error
        var stack = fallback
        var first = true
        while let error = current, chain.count < 10 {
            var unwrapped = error
            var ownStack: CapturedStack?
            if let traced = error as? TracedError {
                unwrapped = traced.error
                ownStack = traced.stack
            }
            var exception = ExceptionValue(
                type: "", value: "", stack: ownStack ?? (first ? stack : nil), mechanism: mechanism, handled: handled)
            exception.source = unwrapped
            chain.append(exception)
            if ownStack != nil && first { stack = nil }
            first = false
            current = cause(of: unwrapped)
        }
        return chain.reversed()
    }

    /// Type, description and module of an error (on the worker: reflection costs microseconds).
    static func describe(_ exception: ExceptionValue) -> ExceptionValue {
        guard let error = exception.source else { return exception }
        var described = exception
        described.type = String(reflecting: Swift.type(of: error))
        described.value = value(of: error)
        described.module = described.type.split(separator: ".").first.map(String.init)
        described.source = nil
        return described
    }

    static func value(of error: any Error) -> String {
        if let localized = error as? any LocalizedError, let description = localized.errorDescription { return description }
        return String(describing: error)
    }

    static func cause(of error: any Error) -> (any Error)? {
        if let withCause = error as? any ErrorWithCause { return withCause.underlyingError }
        if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error { return underlying }
        return nil
    }
}
