/// What `sentry-cli sourcemaps upload` sends: chunk forms (`MultipartForm`) and the artifact bundles assembled from
/// them (`ZipArchive`, `ArtifactBundleReader`). The first byte picks the reader; the rest is its input.
///
/// Properties: a form's parts lie within the body; an archive's entries lie within it and read back as exactly
/// as many bytes as their directory entries state, within the limits; a bundle's files come from its manifest.
enum BundleTarget {
    static let limits = ZipArchive.Limits(entries: 64, totalSize: 1 << 20)

    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        switch first % 3 {
        case 0:
            guard let form = try? MultipartForm(body, boundary: "b") else { return }
            for part in form.parts {
                require(part.data.startIndex >= 0 && part.data.endIndex <= body.count, "part out of the body")
            }
        case 1:
            guard let zip = try? ZipArchive(body, limits: limits) else { return }
            require(zip.entries.count <= limits.entries, "more entries than the limit")
            require(zip.entries.reduce(0) { $0 + $1.size } <= limits.totalSize, "more bytes than the limit")
            for entry in zip.entries {
                require(entry.dataOffset >= 0 && entry.dataOffset + entry.compressedSize <= body.count, "entry out of the archive")
                if let data = try? zip.data(entry) { require(data.count == entry.size, "entry \(entry.name): not its stated size") }
            }
        default:
            guard let files = try? ArtifactBundleReader.files(body) else { return }
            for file in files {
                require(!file.url.isEmpty && file.url.utf8.count <= 2048 * 4, "a file without a url, or one too long")
                require(file.debugID.map { JavaScriptSymbolicator.debugID($0) == $0 } ?? true, "a debug id not in its stored form")
            }
        }
    }
}
