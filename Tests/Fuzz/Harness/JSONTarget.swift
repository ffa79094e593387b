import Foundation

/// `JSONParser`: plain, leaving out the members ingest never reads (as ingest parses an event), and leaving out
/// short names the fuzzer finds easily.
///
/// Properties: what the writer writes parses back to the same value; a parse that leaves members out accepts
/// exactly what a plain parse accepts, and (when no name is spelled with escapes) equals the plain result with
/// those members removed; `LogItems` reads log lines from the bytes (`JSONReader`) as from the parsed tree: the same
/// lines, or the same error.
enum JSONTarget {
    static func run(_ bytes: [UInt8]) {
        let plain = Result { () throws(JSONParser.Error) in try JSONParser.parse(bytes) }
        if case .success(let value) = plain {
            let written = JSONWriter.bytes(value)
            let again = try? JSONParser.parse(written)
            require(again == value, "the writer's output parses back to the value: \(JSONWriter.string(value))")
        }
        check(bytes, plain, omitting: IngestLimits.unreadEventMembers, keepingWhole: IngestLimits.wholeEventMembers)
        check(bytes, plain, omitting: ["a", "b"], keepingWhole: ["c"])
        checkLogLines(bytes, plain)
    }

    static func checkLogLines(_ bytes: [UInt8], _ plain: Result<JSONValue, JSONParser.Error>) {
        let received = Date(timeIntervalSince1970: 1_795_000_000)
        var limits = LogItems.Limits()
        limits.maxLines = 5  // within the fuzzer's reach
        limits.maxAttributes = 3
        limits.maxBody = 40
        let fromTree: String
        switch plain {
        case .success(let value):
            do {
                fromTree = "\(try LogItems.records(value, received: received, alreadyRead: 1, limits: limits))"
            } catch {
                fromTree = "domain: \(error.message)"
            }
        case .failure(let error): fromTree = "json: \(error)"
        }
        let fromBytes: String
        do {
            fromBytes = "\(try LogItems.records(json: bytes, received: received, alreadyRead: 1, limits: limits))"
        } catch let error as DomainError {
            fromBytes = "domain: \(error.message)"
        } catch {
            fromBytes = "json: \(error)"
        }
        require(fromTree == fromBytes, "log lines from the bytes: \(fromBytes)\nfrom the tree: \(fromTree)")
    }

    static func check(
        _ bytes: [UInt8], _ plain: Result<JSONValue, JSONParser.Error>, omitting: [String], keepingWhole: [String]
    ) {
        let partial = Result { () throws(JSONParser.Error) in
            try JSONParser.parse(bytes, omitting: omitting, keepingWhole: keepingWhole)
        }
        switch (plain, partial) {
        case (.success(let whole), .success(let value)):
            guard !bytes.contains(UInt8(ascii: "\\")) else { return }
            let expected = stripped(whole, omitting: Set(omitting), keepingWhole: Set(keepingWhole))
            require(
                value == expected,
                "omitting \(omitting): \(JSONWriter.string(value)) instead of \(JSONWriter.string(expected))")
        case (.failure, .failure):
            break
        case (.success, .failure(let error)):
            require(false, "omitting \(omitting) refuses what a plain parse accepts: \(error)")
        case (.failure(let error), .success):
            require(false, "omitting \(omitting) accepts what a plain parse refuses (\(error))")
        }
    }

    /// `value` without the members named in `omitting`, except inside members named in `keepingWhole`.
    static func stripped(_ value: JSONValue, omitting: Set<String>, keepingWhole: Set<String>) -> JSONValue {
        switch value {
        case .array(let elements):
            return .array(elements.map { stripped($0, omitting: omitting, keepingWhole: keepingWhole) })
        case .object(let object):
            var result = JSONObject()
            for member in object where !omitting.contains(member.key) {
                result[member.key] =
                    keepingWhole.contains(member.key)
                    ? member.value : stripped(member.value, omitting: omitting, keepingWhole: keepingWhole)
            }
            return .object(result)
        default:
            return value
        }
    }
}
