import CZlib
import Foundation
import SpyglassCore
import SpyglassProtocol

/// Stored event payloads: compact JSON, zlib-compressed (level 3: most of level 6's ratio at half its CPU).
public enum EventPayloadCodec {
    /// The stored form of a payload.
    public static func encode(_ payload: JSONValue) -> [UInt8] {
        compress(JSONWriter.bytes(payload))
    }

    /// The stored form of an event: its raw bytes when it has them, else its normalized payload.
    public static func encode(_ event: NormalizedEvent) -> (blob: [UInt8], raw: Bool) {
        if let raw = event.raw { return (compress(raw), true) }
        return (encode(event.payload), false)
    }

    /// zlib-compressed bytes.
    public static func compress(_ json: [UInt8]) -> [UInt8] {
        var bound = compressBound(uLong(json.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let status = out.withUnsafeMutableBufferPointer { outBuffer in
            json.withUnsafeBufferPointer { input in
                compress2(outBuffer.baseAddress, &bound, input.baseAddress, uLong(input.count), 3)
            }
        }
        // compressBound guarantees room; a failure would be an out-of-memory condition in zlib.
        precondition(status == Z_OK, "zlib compress2 failed: \(status)")
        out.removeSubrange(Int(bound)...)
        return out
    }

    /// The normalized payload of a stored event: raw payloads are normalized again as at ingest.
    public static func decode(
        _ blob: [UInt8], raw: Bool, eventID: String, received: Date, sentAt: Date?, clientIP: String?
    ) throws -> JSONValue {
        let stored = try decode(blob)
        guard raw else { return stored }
        let context = EventNormalizer.Context(envelopeEventID: eventID, sentAt: sentAt, received: received, clientIP: clientIP)
        return (try? EventNormalizer().normalize(stored, context: context).payload) ?? stored
    }

    /// The JSON of a stored blob; throws when the blob is damaged.
    public static func decode(_ blob: [UInt8]) throws -> JSONValue {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DomainError(.unavailable, "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var json: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status: Int32 = Z_OK
        try blob.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            try chunk.withUnsafeMutableBufferPointer { out in
                repeat {
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw DomainError(.unavailable, "stored event payload is damaged (zlib \(status))")
                    }
                    json.append(contentsOf: out[0..<(out.count - Int(stream.avail_out))])
                } while status != Z_STREAM_END
            }
        }
        return try JSONParser.parse(json)
    }
}
