import Foundation
import Hummingbird
import SpyglassCore

/// `Authorization: Bearer <token>` for the REST API: the token's SHA-256 must belong to an active user.
public struct TokenAuthMiddleware<Context: APIRequestContext>: RouterMiddleware {
    let accounts: any AccountStore

    public init(accounts: any AccountStore) {
        self.accounts = accounts
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw APIError(status: .unauthorized, detail: "Authentication credentials were not provided: send Authorization: Bearer <token>")
        }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard let user = try await accounts.user(tokenHash: APIToken.hash(token), now: .now) else {
            throw APIError(status: .unauthorized, detail: "Invalid token")
        }
        var context = context
        context.user = user
        return try await next(request, context)
    }
}
