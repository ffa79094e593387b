import Foundation

// The libFuzzer entry point of the fuzz binary (scripts/fuzz builds it with `swiftc -sanitize=fuzzer,address`).
// One binary holds every target; `SPYGLASS_FUZZ_TARGET` names the one a run exercises.

/// The fuzz targets by name. Each takes arbitrary bytes and must return normally: a thrown error is an answer,
/// a trap (or a failed ``require(_:_:)``) is a bug.
enum FuzzTargets {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "json": JSONTarget.run,
        "envelope": EnvelopeTarget.run,
        "content": ContentTarget.run,
        "payload": PayloadTarget.run,
        "query": QueryTarget.run,
        "dsn-auth": DSNAuthTarget.run,
        "event": EventTarget.run,
        "sourcemap": SourceMapTarget.run,
        "bundle": BundleTarget.run,
    ]

    static let selected: @Sendable ([UInt8]) -> Void = {
        let name = ProcessInfo.processInfo.environment["SPYGLASS_FUZZ_TARGET"] ?? ""
        guard let target = all[name] else {
            FileHandle.standardError.write(
                Data("SPYGLASS_FUZZ_TARGET must name a target: \(all.keys.sorted().joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return target
    }()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTargets.selected(bytes)
    return 0
}

/// A property the code under test promised: when it does not hold, stop like a trap would, with the reason.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz property violated: \(message())") }
}

/// Choices derived from the input itself (chunk sizes, options), so they cost the fuzzer no input bytes and a
/// crashing input replays the same way.
struct InputRandom: RandomNumberGenerator {
    private var state: UInt64

    init(_ bytes: [UInt8], salt: UInt64 = 0) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ salt
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        state = hash
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `bytes` cut into pieces of random sizes, mostly small (as network reads of a slow client), some large.
    mutating func chunks(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            let size =
                Bool.random(using: &self)
                ? Int.random(in: 1...8, using: &self) : Int.random(in: 1...max(1, bytes.count), using: &self)
            let end = min(bytes.count, start + size)
            pieces.append(bytes[start..<end])
            start = end
        }
        return pieces
    }
}
