// Envelope parsing speed by item size: one attachment item of 1, 16 and 64 MiB, fed to `EnvelopeReader` in
// 64 KiB chunks as the server's decoder hands them over. Parsing must be linear: MB/s about the same for each
// size (it was quadratic: every chunk appended copied the item built so far). Prints one JSON object.
import Foundation
import SpyglassProtocol

func envelope(itemSize: Int) -> [UInt8] {
    var bytes = Array(#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}"#.utf8) + [0x0a]
    bytes += Array(#"{"type":"attachment","length":\#(itemSize),"filename":"big.bin"}"#.utf8) + [0x0a]
    bytes += [UInt8](repeating: 0x61, count: itemSize) + [0x0a]
    return bytes
}

func parseSeconds(_ bytes: [UInt8], itemSize: Int) throws -> Double {
    let limits = EnvelopeReader.Limits(maxEnvelope: bytes.count, keptItems: [.attachment: itemSize])
    var reader = EnvelopeReader(limits: limits)
    let start = ContinuousClock.now
    try bytes.withUnsafeBufferPointer { all in
        var offset = 0
        while offset < all.count {
            let end = min(offset + 64 * 1024, all.count)
            try reader.consume(UnsafeBufferPointer(rebasing: all[offset..<end]))
            offset = end
        }
    }
    let parsed = try reader.finish()
    let elapsed = ContinuousClock.now - start
    precondition(parsed.items.first?.payload.count == itemSize, "the item was not kept whole")
    let (seconds, attoseconds) = elapsed.components
    return Double(seconds) + Double(attoseconds) / 1e18
}

let sizes = CommandLine.arguments.count > 1 ? CommandLine.arguments.dropFirst().compactMap { Int($0) } : [1, 16, 64]
var rows: [String] = []
for mebibytes in sizes {
    let itemSize = mebibytes * 1024 * 1024
    let bytes = envelope(itemSize: itemSize)
    // The best of three: the least disturbed by the rest of the machine.
    let best = try (0..<3).map { _ in try parseSeconds(bytes, itemSize: itemSize) }.min() ?? 0
    let rate = Double(bytes.count) / 1_048_576 / max(best, 1e-9)
    rows.append(#"{"item_mib":\#(mebibytes),"seconds":\#(best),"mib_per_second":\#(rate)}"#)
}
print(#"{"envelope_parse":[\#(rows.joined(separator: ","))]}"#)
