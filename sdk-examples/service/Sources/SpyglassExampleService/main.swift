// A Hummingbird service reporting to Spyglass: the middleware reports 5xx errors with the request and gives each
// request a trace; the log handler turns logs into breadcrumbs and sends them as structured log lines (in the
// request's trace, so the error's page on the server shows the lines that led to it).
//
//   cd sdk-examples/service && SENTRY_DSN=http://<key>@127.0.0.1:8000/1 swift run spyglass-example-service --port 8080
import Foundation
import Hummingbird
import Logging
import Spyglass
import SpyglassHummingbird
import SpyglassLogging

struct OrderNotPayable: Error, CustomStringConvertible {
    var orderID: String
    var description: String { "order \(orderID) cannot be paid: its total is negative" }
}

enum Payments {
    static func charge(orderID: String, logger: Logger) throws -> String {
        logger.info("charging order", metadata: ["order": "\(orderID)", "amount_cents": .stringConvertible(1250)])
        guard orderID != "13" else { throw SpyglassSDK.trace(OrderNotPayable(orderID: orderID)) }
        return "charged \(orderID)"
    }
}

let environment = ProcessInfo.processInfo.environment
// The SDK's worker runs as a service of the application's ServiceGroup: it stops after the HTTP server, sending
// what is still queued.
let spyglass = SpyglassSDK.startService { options in
    options.release = environment["SENTRY_RELEASE"] ?? "example-service@1.0.0"
    options.debug = environment["SPYGLASS_SDK_DEBUG"] == "1"
    options.enableLogs = true
}
LoggingSystem.bootstrap { label in
    MultiplexLogHandler([StreamLogHandler.standardError(label: label), SpyglassLogHandler(label: label)])
}
let port = CommandLine.arguments.firstIndex(of: "--port").flatMap { Int(CommandLine.arguments[$0 + 1]) } ?? 8080
let logger = Logger(label: "payments")
let router = Router()
router.add(middleware: SpyglassMiddleware())
router.get("health") { _, _ in "ok" }
router.post("orders/:id/pay") { _, context -> String in
    try Payments.charge(orderID: context.parameters.require("id"), logger: logger)
}
router.get("orders/:id") { _, context -> String in
    throw HTTPError(.notFound, message: "no order \(context.parameters.get("id") ?? "")")
}
let app = Application(
    router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), services: [spyglass],
    logger: Logger(label: "http")
)
try await app.runService()
