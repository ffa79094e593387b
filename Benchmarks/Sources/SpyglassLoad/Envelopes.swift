import Foundation

/// Builds request bodies from the recorded templates: each with a fresh event id, gzip-compressed as the
/// Python SDK sends them. The large, constant part of each body is compressed once; per request only a small
/// gzip member with the envelope header (and, for new issues, a unique fingerprint) is compressed.
struct EnvelopeFactory: Sendable {
    /// Per template: the compressed rest of an envelope ("\n" + item header + "\n" + payload + "\n").
    private let existing: [[UInt8]]
    /// Per template: the item header line prefix for new-issue bodies and the compressed payload after its "{".
    private let fresh: [(payloadTail: [UInt8], tailLength: Int)]
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
        var existing: [[UInt8]] = []
        var fresh: [([UInt8], Int)] = []
        var payloads: [[UInt8]] = []
        var size = 0
        for template in templates {
            guard let payload = template["payload"] as? String, payload.hasPrefix("{") else { throw LoadError("bad template") }
            let bytes = Array(payload.utf8)
            let itemHeader = "{\"type\":\"event\",\"content_type\":\"application/json\",\"length\":\(bytes.count)}"
            let rest = Array("\n\(itemHeader)\n".utf8) + bytes + [0x0a]
            existing.append(gzipMember(rest, level: 9))
            let tail = Array(bytes.dropFirst()) + [0x0a]
            fresh.append((gzipMember(tail, level: 9), tail.count))
            payloads.append(gzipMember(bytes, level: 6))
            size = rest.count + 60
        }
        self.existing = existing
        self.fresh = fresh
        self.newIssueRatio = newIssueRatio
        self.typicalSize = size
        self.payloads = payloads
    }

    /// A body: fresh event id; one of the 50 recorded issues, or (with `newIssueRatio`) a new one.
    func body(using generator: inout some RandomNumberGenerator) -> (body: [UInt8], eventID: String) {
        let eventID = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let sentAt = Date.now.formatted(.iso8601)
        let header = "{\"event_id\":\"\(eventID)\",\"sent_at\":\"\(sentAt)\"}"
        let index = Int.random(in: 0..<existing.count, using: &generator)
        if Double.random(in: 0..<1, using: &generator) < newIssueRatio {
            let (tail, tailLength) = fresh[index]
            let prefix = "{\"fingerprint\":[\"bench-new-\(eventID)\"],"
            let itemHeader = "{\"type\":\"event\",\"content_type\":\"application/json\",\"length\":\(prefix.utf8.count + tailLength - 1)}"
            let head = Array("\(header)\n\(itemHeader)\n\(prefix)".utf8)
            return (gzipMember(head, level: 1) + tail, eventID)
        }
        return (gzipMember(Array(header.utf8), level: 1) + existing[index], eventID)
    }
}

struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
