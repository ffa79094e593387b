// A command-line tool reporting to Spyglass: errors with their stack, logs as breadcrumbs.
//
//   cd sdk-examples/cli && SENTRY_DSN=http://<key>@127.0.0.1:8000/1 swift run spyglass-example-cli [error|message]
import Foundation
import Logging
import Spyglass
import SpyglassLogging

struct InventoryError: Error, LocalizedError {
    var line: Int
    var errorDescription: String? { "inventory line \(line) has no quantity" }
}

struct SyncFailed: ErrorWithCause {
    var warehouse: String
    var underlyingError: (any Error)?
}

enum Inventory {
    static func parseLine(_ text: String, number: Int) throws -> Int {
        guard let quantity = Int(text.split(separator: ",").last ?? "") else {
            throw SpyglassSDK.trace(InventoryError(line: number))
        }
        return quantity
    }

    static func sync(warehouse: String, lines: [String]) throws -> Int {
        do {
            return try lines.enumerated().reduce(0) { total, entry in total + (try parseLine(entry.element, number: entry.offset + 1)) }
        } catch {
            throw SyncFailed(warehouse: warehouse, underlyingError: error)
        }
    }
}

let environment = ProcessInfo.processInfo.environment
if CommandLine.arguments.dropFirst().first == "survive-signals" {
    // Signals the process survives are not crashes: one it ignored before start, one its own handler handles.
    signal(SIGTRAP, SIG_IGN)
    signal(SIGFPE) { _ in }
}
SpyglassSDK.start { options in
    options.release = environment["SENTRY_RELEASE"] ?? "example-cli@1.0.0"
    options.debug = environment["SPYGLASS_SDK_DEBUG"] == "1"
    if let spool = environment["SPYGLASS_SDK_SPOOL"] { options.spoolDirectory = URL(fileURLWithPath: spool) }
    options.enableLogs = true  // swift-log records as structured log lines too
}
LoggingSystem.bootstrap { label in
    MultiplexLogHandler([StreamLogHandler.standardError(label: label), SpyglassLogHandler(label: label)])
}
let logger = Logger(label: "inventory")
SpyglassSDK.setTag("warehouse", "berlin-1")
SpyglassSDK.setUser(SpyglassUser(id: "cron"))

/// Crashes on purpose (`crash-nil`, `crash-index`, `crash-fatal`, `crash-segv`, `crash-abort`, `crash-overflow`,
/// `crash-overflow-task` on a thread of the task pool): the next start reports the crash.
enum Crash {
    @inline(never) static func unwrapMissingPrice(_ prices: [String: Int]) -> Int { prices["durian"]! }
    @inline(never) static func readPastTheEnd(_ rows: [Int], _ index: Int) -> Int { rows[index] }
    @inline(never) static func giveUp() -> Never { fatalError("inventory is corrupt") }
    @inline(never) static func dereferenceNull() -> Int { UnsafePointer<Int>(bitPattern: 8)!.pointee }
    @inline(never) static func recurse(_ depth: Int) -> Int { depth == Int.min ? 0 : recurse(depth + 1) + 1 }
}

switch CommandLine.arguments.dropFirst().first ?? "error" {
case "crash-nil": print(Crash.unwrapMissingPrice(["apple": 1]))
case "crash-index": print(Crash.readPastTheEnd([1, 2, 3], Int(CommandLine.arguments.count + 5)))
case "crash-fatal": Crash.giveUp()
case "crash-segv": print(Crash.dereferenceNull())
case "crash-abort": abort()
case "crash-overflow": print(Crash.recurse(0))
case "crash-overflow-task":
    let depth = await Task.detached {
        SpyglassSDK.addBreadcrumb(Breadcrumb(message: "walking the category tree", category: "inventory"))
        return Crash.recurse(0)
    }.value
    print(depth)
case "survive-signals":
    raise(SIGTRAP)
    raise(SIGFPE)
    SpyglassSDK.capture(message: "still running after SIGTRAP and SIGFPE", level: .info)
case "exit-now":
    // No flush here: the SDK's exit hook sends what is queued, and the log lines waiting for their batch.
    logger.info("exiting before the batch is full", metadata: ["code": .stringConvertible(0)])
    SpyglassSDK.capture(message: "exiting right after capturing", level: .warning)
    exit(0)
case "message":
    SpyglassSDK.capture(message: "inventory sync skipped: nothing to do", level: .warning)
default:
    logger.info("loading inventory", metadata: ["file": "berlin-1.csv"])
    logger.notice("parsed header", metadata: ["columns": "3"])
    do {
        _ = try Inventory.sync(warehouse: "berlin-1", lines: ["apples,3", "pears,"])
    } catch {
        logger.error("inventory sync failed", error: error)
    }
}
// Generous: a crash report from the last run is symbolicated before it is sent, which takes seconds in a debug build.
let flushed = await SpyglassSDK.flush(timeout: .seconds(30))
print(flushed ? "sent" : "not everything was sent")
