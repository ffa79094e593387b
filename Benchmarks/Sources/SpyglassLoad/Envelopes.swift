import Foundation

/// Builds request bodies from the recorded templates: each with a fresh event id and the time of sending as its
/// timestamp, gzip-compressed as the Python SDK sends them. The large, constant part of each body (the payload
/// after its "{") is compressed once; per request only a small gzip member with the envelope header, the item
/// header and the payload's first fields (timestamp, the event id and, for new issues, a unique fingerprint) is
/// compressed.
struct EnvelopeFactory: Sendable {
    /// Per template: the compressed payload after its "{" (and "\n"), and its uncompressed length.
    private let tails: [(compressed: [UInt8], length: Int)]
    let newIssueRatio: Double
    /// Uncompressed size of a typical body, for reporting.
    let typicalSize: Int
    /// The compressed payload of each template, for the storage ceiling.
    let payloads: [[UInt8]]

    init(templatesPath: String, newIssueRatio: Double) throws {
        let data = try Data(contentsOf: URL(filePath: templatesPath))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let templates = root["templates"] as? [[String: Any]], !templates.isEmpty
        else { throw LoadError("no templates in \(templatesPath)") }
        var tails: [([UInt8], Int)] = []
        var payloads: [[UInt8]] = []
        var size = 0
        for template in templates {
            guard let payload = template["payload"] as? String, payload.hasPrefix("{") else { throw LoadError("bad template") }
            let bytes = Array(payload.utf8)
            let tail = Array(bytes.dropFirst()) + [0x0a]
            tails.append((gzipMember(tail, level: 9), tail.count))
            payloads.append(gzipMember(bytes, level: 6))
            size = tail.count + 200
        }
        self.tails = tails
        self.newIssueRatio = newIssueRatio
        self.typicalSize = size
        self.payloads = payloads
    }

    /// A body: fresh event id and timestamp; one of the 50 recorded issues, or (with `newIssueRatio`) a new one.
    func body(using generator: inout some RandomNumberGenerator) -> (body: [UInt8], eventID: String) {
        let eventID = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let now = Date.now.formatted(.iso8601)
        let header = "{\"event_id\":\"\(eventID)\",\"sent_at\":\"\(now)\"}"
        let (tail, tailLength) = tails[Int.random(in: 0..<tails.count, using: &generator)]
        var prefix = "{\"timestamp\":\"\(now)\",\"event_id\":\"\(eventID)\","
        if Double.random(in: 0..<1, using: &generator) < newIssueRatio {
            prefix += "\"fingerprint\":[\"bench-new-\(eventID)\"],"
        }
        let itemHeader = "{\"type\":\"event\",\"content_type\":\"application/json\",\"length\":\(prefix.utf8.count + tailLength - 1)}"
        let head = Array("\(header)\n\(itemHeader)\n\(prefix)".utf8)
        return (gzipMember(head, level: 1) + tail, eventID)
    }
}

struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
