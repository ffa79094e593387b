import CZlib
import Foundation
import SpyglassCore
import SpyglassProtocol

/// Reads the entries of a ZIP archive (stored or deflated), as `sentry-cli` writes artifact bundles: symbolic's
/// source bundles, a ZIP with an 8-byte `SYSB` header before it, which the central directory's offsets do not
/// count (the reader finds the shift from where the directory ends). Archives come from users: every offset and
/// size is checked against the bytes there are and the limits given, and a bad archive is a ``ZipError`` saying
/// what is wrong and where.
package struct ZipArchive {
    package struct Entry {
        package var name: String
        package var method: UInt16
        package var compressedSize: Int
        package var size: Int
        /// Where the entry's data starts in the archive.
        package var dataOffset: Int
    }

    package struct Limits {
        /// Entries at most.
        package var entries: Int
        /// The uncompressed size of all entries together.
        package var totalSize: Int

        package init(entries: Int, totalSize: Int) {
            self.entries = entries
            self.totalSize = totalSize
        }
    }

    let bytes: [UInt8]
    package private(set) var entries: [Entry] = []
    /// The first entry of each name.
    private var byName: [String: Int] = [:]

    package init(_ bytes: [UInt8], limits: Limits) throws {
        self.bytes = bytes
        // The end of central directory record: 22 bytes and a comment of up to 65 535.
        guard bytes.count >= 22 else { throw ZipError("archive of \(bytes.count) bytes is too short to be a ZIP file") }
        var end = -1
        var position = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while position >= lowest {
            if read32(position) == 0x0605_4b50 {
                end = position
                break
            }
            position -= 1
        }
        guard end >= 0 else { throw ZipError("no end of central directory record: not a ZIP file") }
        let count = Int(read16(end + 10))
        let directorySize = Int(read32(end + 12))
        let directoryOffset = Int(read32(end + 16))
        guard count != 0xFFFF, directorySize != 0xFFFF_FFFF, directoryOffset != 0xFFFF_FFFF else {
            throw ZipError("ZIP64 archives are not supported")
        }
        guard count <= limits.entries else { throw ZipError("\(count) entries: at most \(limits.entries) a bundle") }
        // Bytes before the archive (symbolic's header) shift every offset by the same amount.
        let shift = end - directorySize - directoryOffset
        guard shift >= 0 else { throw ZipError("central directory at \(directoryOffset) (\(directorySize) bytes) overlaps its end record at \(end)") }
        var cursor = directoryOffset + shift
        var total = 0
        for index in 0..<count {
            guard cursor + 46 <= end, read32(cursor) == 0x0201_4b50 else {
                throw ZipError("central directory entry \(index) at \(cursor): bad signature or out of range")
            }
            let flags = read16(cursor + 8)
            let method = read16(cursor + 10)
            let compressedSize = Int(read32(cursor + 20))
            let size = Int(read32(cursor + 24))
            let nameLength = Int(read16(cursor + 28))
            let extraLength = Int(read16(cursor + 30))
            let commentLength = Int(read16(cursor + 32))
            let localOffset = Int(read32(cursor + 42)) + shift
            guard cursor + 46 + nameLength <= end else { throw ZipError("central directory entry \(index): name out of range") }
            let name = String(decoding: bytes[(cursor + 46)..<(cursor + 46 + nameLength)], as: UTF8.self)
            guard flags & 1 == 0 else { throw ZipError("entry \"\(name)\" is encrypted") }
            guard method == 0 || method == 8 else {
                throw ZipError("entry \"\(name)\": compression method \(method) (only stored and deflate are read)")
            }
            guard compressedSize != 0xFFFF_FFFF, size != 0xFFFF_FFFF else { throw ZipError("entry \"\(name)\": ZIP64 sizes are not supported") }
            total += size
            guard total <= limits.totalSize else {
                throw ZipError("entries hold more than \(limits.totalSize) bytes uncompressed (at \"\(name)\")")
            }
            guard localOffset + 30 <= bytes.count, read32(localOffset) == 0x0403_4b50 else {
                throw ZipError("entry \"\(name)\": no local header at \(localOffset)")
            }
            let dataOffset = localOffset + 30 + Int(read16(localOffset + 26)) + Int(read16(localOffset + 28))
            guard dataOffset + compressedSize <= bytes.count else {
                throw ZipError("entry \"\(name)\": \(compressedSize) bytes at \(dataOffset) run past the archive's end")
            }
            guard method == 8 || compressedSize == size else {
                throw ZipError("entry \"\(name)\": stored with \(compressedSize) bytes but \(size) uncompressed")
            }
            if byName[name] == nil { byName[name] = entries.count }
            entries.append(Entry(name: name, method: method, compressedSize: compressedSize, size: size, dataOffset: dataOffset))
            cursor += 46 + nameLength + extraLength + commentLength
        }
    }

    /// The entry named `name`, if the archive has one.
    package func entry(_ name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// An entry's uncompressed bytes; exactly as many as its directory entry states.
    package func data(_ entry: Entry) throws -> [UInt8] {
        let compressed = bytes[entry.dataOffset..<(entry.dataOffset + entry.compressedSize)]
        if entry.method == 0 { return Array(compressed) }
        guard let output = Self.inflateRaw(Array(compressed), size: entry.size) else {
            throw ZipError("entry \"\(entry.name)\": invalid deflate data, or not \(entry.size) bytes as stated")
        }
        return output
    }

    /// Raw deflate of exactly `size` bytes; nil for anything else.
    static func inflateRaw(_ input: [UInt8], size: Int) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        // One byte more than stated: an entry that inflates to more is refused, not cut.
        var output = [UInt8](repeating: 0, count: size + 1)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == size else { return nil }
        output.removeLast()
        return output
    }

    private func read16(_ offset: Int) -> UInt16 {
        guard offset >= 0, offset + 2 <= bytes.count else { return 0 }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    private func read32(_ offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}

package struct ZipError: Error, CustomStringConvertible, Sendable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// The parts of a `multipart/form-data` body (RFC 7578), as curl's form sends sentry-cli's chunks: each part's
/// field name, file name and bytes.
package struct MultipartForm {
    package struct Part {
        package var name: String
        package var filename: String?
        package var data: ArraySlice<UInt8>
    }

    package private(set) var parts: [Part] = []

    /// The boundary of a `Content-Type: multipart/form-data; boundary=…` header.
    package static func boundary(contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty || value.utf8.count > 200 ? nil : value
            }
        }
        return nil
    }

    package init(_ body: [UInt8], boundary: String) throws {
        let delimiter = Array("--\(boundary)".utf8)
        guard var start = Self.find(delimiter, in: body, from: 0) else { throw ZipError("multipart body: no boundary \"\(boundary)\"") }
        let separator = Array("\r\n--\(boundary)".utf8)
        var index = 0
        while true {
            var cursor = start + delimiter.count
            // "--" after a delimiter ends the body.
            if cursor + 2 <= body.count, body[cursor] == 0x2d, body[cursor + 1] == 0x2d { return }
            guard let headerEnd = Self.find(Array("\r\n\r\n".utf8), in: body, from: cursor) else {
                throw ZipError("multipart part \(index): headers do not end")
            }
            let headers = String(decoding: body[cursor..<headerEnd], as: UTF8.self)
            cursor = headerEnd + 4
            guard let next = Self.find(separator, in: body, from: cursor) else {
                throw ZipError("multipart part \(index): no closing boundary")
            }
            var name: String?
            var filename: String?
            for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
                name = Self.parameter("name", in: line)
                filename = Self.parameter("filename", in: line)
            }
            guard let name else { throw ZipError("multipart part \(index): no Content-Disposition name") }
            parts.append(Part(name: name, filename: filename, data: body[cursor..<next]))
            start = next + 2
            index += 1
        }
    }

    static func parameter(_ key: String, in line: Substring) -> String? {
        for item in line.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == key { return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, needle.count <= haystack.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

/// The limits of source map uploads (chunk-upload and artifact bundles).
package enum ArtifactLimits {
    package static let chunkSize = 2 * 1024 * 1024
    package static let chunksPerRequest = 8
    /// Below the server's request body limit (20 MiB) with the form's overhead.
    package static let maxRequestSize = 16 * 1024 * 1024
    package static let maxBundleSize = 64 * 1024 * 1024
    /// Chunks one assemble request may name: a bundle's size over the chunk size.
    package static let maxChunks = maxBundleSize / chunkSize
    package static let maxFiles = 10_000
    package static let maxUncompressed = 256 * 1024 * 1024
}

/// The files of an artifact bundle.
package enum ArtifactBundleReader {
    /// The files of a bundle as symbolic writes it: `manifest.json` lists each file's URL, type and headers, its
    /// bytes under `files/`.
    package static func files(_ archive: [UInt8]) throws -> [ArtifactFile] {
        let zip = try ZipArchive(
            archive, limits: ZipArchive.Limits(entries: ArtifactLimits.maxFiles + 1, totalSize: ArtifactLimits.maxUncompressed))
        guard let manifestEntry = zip.entry("manifest.json") else { throw ZipError("no manifest.json") }
        let manifest: JSONValue
        let manifestBytes = try zip.data(manifestEntry)
        do { manifest = try JSONParser.parse(manifestBytes) } catch { throw ZipError("manifest.json: invalid JSON: \(error)") }
        guard let listed = manifest["files"]?.objectValue else { throw ZipError("manifest.json: no \"files\" object") }
        var files: [ArtifactFile] = []
        for member in listed {
            let info = member.value
            guard let url = info["url"]?.stringValue, !url.isEmpty else { throw ZipError("manifest.json: files.\(member.key): no url") }
            guard let type = info["type"]?.stringValue else { throw ZipError("manifest.json: files.\(member.key): no type") }
            // Types symbolic knows but symbolication does not read are kept out.
            guard let kind = ArtifactFile.Kind(rawValue: type) else { continue }
            guard let entry = zip.entry("files/\(member.key)") ?? zip.entry(member.key) else {
                throw ZipError("manifest.json lists \(member.key), which the archive lacks")
            }
            var debugID: String?
            var sourceMap: String?
            for header in info["headers"]?.objectValue ?? [:] {
                switch header.key.lowercased() {
                case "debug-id": debugID = header.value.stringValue.flatMap(JavaScriptSymbolicator.debugID)
                case "sourcemap", "x-sourcemap": sourceMap = header.value.stringValue.map { String($0.prefix(2048)) }
                default: continue
                }
            }
            files.append(
                ArtifactFile(
                    url: String(url.prefix(2048)), kind: kind, debugID: debugID, sourceMapReference: sourceMap,
                    content: try zip.data(entry)))
        }
        return files
    }
}
