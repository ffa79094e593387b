import Foundation
import Logging
import SpyglassServer
import Synchronization
import Testing

/// Collects the lines a handler writes.
final class Lines: Sendable {
    private let storage = Mutex<[String]>([])
    var all: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}

@Suite struct StructuredLogHandlerTests {
    func logger(_ format: LogFormat, _ lines: Lines, level: Logger.Level = .info) -> Logger {
        Logger(label: "test") { _ in StructuredLogHandler(format: format, level: level, sink: lines.append) }
    }

    @Test func logfmtLinesCarryTimeLevelMessageAndSortedMetadata() throws {
        let lines = Lines()
        logger(.logfmt, lines).info("request", metadata: ["http.status": "200", "http.method": "GET"])
        let line = try #require(lines.all.first)
        let pattern = /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info msg=request http\.method=GET http\.status=200\n$/
        #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
    }

    @Test func hostileValuesCannotForgeLinesOrFields() throws {
        let lines = Lines()
        let hostile = "/x\nts=0 level=critical msg=\"forged\" a=b"
        logger(.logfmt, lines).warning("path \"q\"", metadata: ["http.path": "\(hostile)", "bad key=": "v"])
        let line = try #require(lines.all.first)
        #expect(line.filter { $0 == "\n" }.count == 1)
        #expect(line.contains(#"msg="path \"q\"""#))
        #expect(line.contains(#"http.path="/x\nts=0 level=critical msg=\"forged\" a=b""#))
        #expect(line.contains("bad_key_=v"))
    }

    @Test func jsonLinesParseAsOneObject() throws {
        let lines = Lines()
        logger(.json, lines).error("boom", metadata: ["dsn": "http://k@h/1", "weird": "a\"b\\c\u{01}\n"])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("}\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["level"] == "error")
        #expect(object["msg"] == "boom")
        #expect(object["dsn"] == "http://k@h/1")
        #expect(object["weird"] == "a\"b\\c\u{01}\n")
        #expect(object["ts"]?.hasSuffix("Z") == true)
    }

    @Test func levelsBelowTheConfiguredOneAreDropped() {
        let lines = Lines()
        let log = logger(.logfmt, lines, level: .warning)
        log.info("quiet")
        log.warning("loud")
        #expect(lines.all.count == 1)
        #expect(lines.all.first?.contains("msg=loud") == true)
    }
}
