// The request side's CPU without HTTP, threads or storage: the benchmark's recorded events parsed as ingest parses
// them (the members it never reads left out), normalized and grouped, then freed; and a `log` item of lines read
// into records. Single-threaded loops, the best of several rounds: steadier than the load runs on this VM, for
// changes to the parser, the normalizer or grouping (docs/performance.md). Prints one JSON object.
//
//     SpyglassPipelineBenchmark TEMPLATES.json LOG_ITEM.json [ROUNDS [EVENTS]]
//
// ROUNDS (default 5) of EVENTS events (default 4 000, the templates over and over) and 200 log items each.
// TEMPLATES.json as Benchmarks/record_envelopes.py writes it; LOG_ITEM.json a `log` item's payload (runner.py).
import Foundation
import SpyglassCore
import SpyglassProtocol

func read(_ path: String) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { fatalError("cannot read \(path)") }
    return Array(data)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    fatalError("usage: SpyglassPipelineBenchmark TEMPLATES.json LOG_ITEM.json [ROUNDS [EVENTS]]")
}
guard let templates = try JSONParser.parse(read(arguments[1]))["templates"]?.arrayValue else {
    fatalError("\(arguments[1]): expected {\"templates\": [...]}")
}
let payloads: [[UInt8]] = templates.compactMap { $0["payload"]?.stringValue.map { Array($0.utf8) } }
let logItem = read(arguments[2])
let rounds = arguments.count > 3 ? max(1, Int(arguments[3]) ?? 5) : 5
let eventsPerRound = arguments.count > 4 ? max(1, Int(arguments[4]) ?? 4000) : 4000
let passes = max(1, eventsPerRound / max(payloads.count, 1))

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let (whole, fraction) = (ContinuousClock.now - start).components
    return Double(whole) + Double(fraction) / 1e18
}

let normalizer = EventNormalizer()
let received = Date()
var best = (
    parse: Double.infinity, normalize: Double.infinity, free: Double.infinity, logLine: Double.infinity,
    bytes: Double.infinity, bytesFree: Double.infinity
)
var fromBytes = 0
var lineCount = 0
for _ in 0..<rounds {
    var values: [JSONValue] = []
    var events: [NormalizedEvent] = []
    values.reserveCapacity(payloads.count * passes)
    events.reserveCapacity(payloads.count * passes)
    let parse = try seconds {
        for _ in 0..<passes {
            for payload in payloads {
                values.append(
                    try JSONParser.parse(
                        payload, omitting: IngestLimits.unreadEventMembers, keepingWhole: IngestLimits.wholeEventMembers))
            }
        }
    }
    let normalize = try seconds {
        for value in values {
            events.append(try normalizer.normalize(value, context: EventNormalizer.Context(received: received)))
        }
    }
    let free = seconds {
        values = []
        events = []
    }
    // The same events read as ingest reads them now: straight from the bytes (the tree only for unusual ones).
    let context = EventNormalizer.Context(received: received)
    let bytes = seconds {
        for _ in 0..<passes {
            for payload in payloads {
                if let event = normalizer.normalize(json: payload, context: context) { events.append(event) }
            }
        }
    }
    fromBytes = events.count / passes
    let bytesFree = seconds { events = [] }
    var lines: [LogRecord] = []
    let logPasses = max(1, eventsPerRound / 20)
    let log = try seconds {
        for _ in 0..<logPasses { lines = try LogItems.records(json: logItem, received: received) }
    }
    lineCount = lines.count
    let count = Double(payloads.count * passes)
    best.parse = min(best.parse, parse / count)
    best.normalize = min(best.normalize, normalize / count)
    best.free = min(best.free, free / count)
    best.logLine = min(best.logLine, log / Double(logPasses * max(lines.count, 1)))
    best.bytes = min(best.bytes, bytes / count)
    best.bytesFree = min(best.bytesFree, bytesFree / count)
}
func micros(_ value: Double) -> String { String(format: "%.2f", value * 1e6) }
print(
    #"{"request_pipeline":{"events":\#(payloads.count),"rounds":\#(rounds),"parse_us":\#(micros(best.parse)),"#
        + #""normalize_us":\#(micros(best.normalize)),"free_us":\#(micros(best.free)),"#
        + #""log_lines":\#(lineCount),"log_line_us":\#(micros(best.logLine)),"from_bytes":\#(fromBytes),"#
        + #""bytes_us":\#(micros(best.bytes)),"bytes_free_us":\#(micros(best.bytesFree))}}"#)
