/// An event's payload as what differs from a dictionary (another event of its hash): a program of literal runs and
/// copies from the dictionary. zlib with a preset dictionary did the same, but rebuilt its hash chains over the
/// dictionary for every event (a large part of ingest's CPU: docs/performance.md, "Compact events"); here the
/// dictionary's index is built once (``DeltaIndex``) and encoding an event of its issue is a few word compares.
///
/// The program, each number a LEB128 varint: repeated `literal length, literal bytes, copy length, copy offset`,
/// ended by a copy length of 0 (without an offset).
package enum PayloadDelta {
    /// The program that rebuilds `input` from `dictionary` (indexed by `index`).
    package static func encode(_ input: [UInt8], dictionary: [UInt8], index: DeltaIndex) -> [UInt8] {
        var program: [UInt8] = []
        program.reserveCapacity(256)
        input.withUnsafeBufferPointer { input in
            dictionary.withUnsafeBufferPointer { dictionary in
                let n = input.count
                let m = dictionary.count
                var literalStart = 0
                var i = 0
                while i + DeltaIndex.anchorLength <= n {
                    let candidate = index.candidate(for: DeltaIndex.hash(input, at: i))
                    let length = candidate >= 0 && candidate < m ? matchLength(input, i, dictionary, candidate) : 0
                    guard length >= DeltaIndex.anchorLength else {
                        i += 1
                        continue
                    }
                    let end = i + length
                    var start = i
                    var source = candidate
                    while start > literalStart, source > 0, input[start - 1] == dictionary[source - 1] {
                        start -= 1
                        source -= 1
                    }
                    append(literal: input[literalStart..<start], copy: (source, end - start), to: &program)
                    i = end
                    literalStart = end
                }
                append(literal: input[literalStart..<n], copy: nil, to: &program)
            }
        }
        return program
    }

    /// The bytes `program` rebuilds from `dictionary`; throws when the program does not fit it.
    package static func decode(_ program: [UInt8], dictionary: [UInt8]) throws(DeltaError) -> [UInt8] {
        var output: [UInt8] = []
        var position = 0
        func number() throws(DeltaError) -> Int {
            var value = 0
            var shift = 0
            while position < program.count, shift < 63 {  // at most 63 bits: never negative
                let byte = program[position]
                position += 1
                value |= Int(byte & 0x7f) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            throw DeltaError("the program ends inside a number")
        }
        while true {
            let literal = try number()
            guard literal <= program.count - position else { throw DeltaError("a literal runs past the program's end") }
            output.append(contentsOf: program[position..<(position + literal)])
            position += literal
            let length = try number()
            if length == 0 { break }
            let offset = try number()
            guard offset <= dictionary.count, length <= dictionary.count - offset else {
                throw DeltaError("a copy reaches past the dictionary's end")
            }
            guard output.count + length <= maxOutput else { throw DeltaError("it rebuilds more than any event holds") }
            output.append(contentsOf: dictionary[offset..<(offset + length)])
        }
        guard position == program.count else { throw DeltaError("bytes follow the program's end") }
        return output
    }

    /// More than any stored event (their limit is configurable, in MiB): a damaged program stops here.
    package static let maxOutput = 1 << 30

    package struct DeltaError: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// Bytes equal from `input[i]` and `dictionary[j]` on, compared a word at a time.
    private static func matchLength(
        _ input: UnsafeBufferPointer<UInt8>, _ i: Int, _ dictionary: UnsafeBufferPointer<UInt8>, _ j: Int
    ) -> Int {
        let limit = min(input.count - i, dictionary.count - j)
        let a = UnsafeRawPointer(input.baseAddress! + i)
        let b = UnsafeRawPointer(dictionary.baseAddress! + j)
        var length = 0
        while length + 8 <= limit {
            let difference = a.loadUnaligned(fromByteOffset: length, as: UInt64.self)
                ^ b.loadUnaligned(fromByteOffset: length, as: UInt64.self)
            if difference != 0 { return length + UInt64(littleEndian: difference).trailingZeroBitCount / 8 }
            length += 8
        }
        while length < limit, a.load(fromByteOffset: length, as: UInt8.self) == b.load(fromByteOffset: length, as: UInt8.self) {
            length += 1
        }
        return length
    }

    private static func append(literal: Slice<UnsafeBufferPointer<UInt8>>, copy: (offset: Int, length: Int)?, to program: inout [UInt8]) {
        appendNumber(literal.count, to: &program)
        program.append(contentsOf: literal)
        guard let copy else {
            program.append(0)
            return
        }
        appendNumber(copy.length, to: &program)
        appendNumber(copy.offset, to: &program)
    }

    private static func appendNumber(_ value: Int, to program: inout [UInt8]) {
        var value = UInt(value)
        while value >= 0x80 {
            program.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        program.append(UInt8(value))
    }
}

/// Where runs of a dictionary's bytes start: the hash of the ``anchorLength`` bytes at every ``anchorStride``-th
/// position. Any common run of at least `anchorLength + anchorStride` bytes covers one such anchor, so the
/// encoder finds it by hashing the input at each position.
package struct DeltaIndex: Sendable {
    package static let anchorLength = 16
    package static let anchorStride = 8

    /// Dictionary positions by hash slot; -1 where none.
    private let slots: [Int32]
    private let mask: Int

    package init(_ dictionary: [UInt8]) {
        let anchors = max(dictionary.count / Self.anchorStride, 1)
        var size = 64
        while size < anchors { size <<= 1 }
        var slots = [Int32](repeating: -1, count: size)
        let mask = size - 1
        dictionary.withUnsafeBufferPointer { bytes in
            var position = 0
            while position + Self.anchorLength <= bytes.count {
                let slot = Self.hash(bytes, at: position) & mask
                if slots[slot] < 0 { slots[slot] = Int32(position) }  // the first run of a repeated one
                position += Self.anchorStride
            }
        }
        self.slots = slots
        self.mask = mask
    }

    /// Bytes the index holds.
    package var size: Int { slots.count * MemoryLayout<Int32>.size }

    package func candidate(for hash: Int) -> Int { Int(slots[hash & mask]) }

    /// A hash of the ``anchorLength`` bytes at `position` (which must all be there).
    package static func hash(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int) -> Int {
        let base = UnsafeRawPointer(bytes.baseAddress! + position)
        let a = base.loadUnaligned(as: UInt64.self)
        let b = base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        let mixed = (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xC2B2_AE3D_27D4_EB4F)
        return Int(truncatingIfNeeded: (mixed ^ (mixed >> 29)) >> 16)
    }
}
