import Crypto
import Foundation

/// A file of an uploaded artifact bundle (`sentry-cli sourcemaps upload`): minified JavaScript, its source map, or
/// an original source, with the URL it is served at (`~/app.min.js`: any scheme and host) and the debug id that
/// `sentry-cli sourcemaps inject` wrote into it.
public struct ArtifactFile: Sendable, Hashable {
    /// The manifest's `type`, as symbolic names them.
    public enum Kind: String, Sendable, CaseIterable {
        case minifiedSource = "minified_source"
        case sourceMap = "source_map"
        case source = "source"
        case indexedRAMBundle = "indexed_ram_bundle"
    }

    public var url: String
    public var kind: Kind
    /// Lower-case UUID with dashes, from the manifest's `debug-id` header.
    public var debugID: String?
    /// The `Sourcemap` header of a minified file: where its map is, relative to the file's URL.
    public var sourceMapReference: String?
    public var content: [UInt8]

    public init(url: String, kind: Kind, debugID: String? = nil, sourceMapReference: String? = nil, content: [UInt8]) {
        self.url = url
        self.kind = kind
        self.debugID = debugID
        self.sourceMapReference = sourceMapReference
        self.content = content
    }
}

/// An assembled artifact bundle: its checksum (SHA-1 of the archive as uploaded), the release and dist it was
/// uploaded for (older clients look files up by those), and its files.
public struct ArtifactBundle: Sendable {
    public var checksum: String
    public var release: String?
    public var dist: String?
    public var files: [ArtifactFile]

    public init(checksum: String, release: String?, dist: String?, files: [ArtifactFile]) {
        self.checksum = checksum
        self.release = release
        self.dist = dist
        self.files = files
    }
}

/// A stored bundle, as listed (`GET /projects/{org}/{project}/files/artifact-bundles/`).
public struct ArtifactBundleInfo: Sendable, Hashable {
    public var checksum: String
    public var release: String?
    public var dist: String?
    public var fileCount: Int
    public var created: Date

    public init(checksum: String, release: String?, dist: String?, fileCount: Int, created: Date) {
        self.checksum = checksum
        self.release = release
        self.dist = dist
        self.fileCount = fileCount
        self.created = created
    }
}

/// Source maps and the files around them: the chunks `sentry-cli` uploads (`chunk-upload/`), the bundles they are
/// assembled into (`artifactbundle/assemble/`), and the lookups symbolication makes (by debug id; by release and
/// URL for clients that send no debug ids).
public protocol ArtifactStore: Sendable {
    /// Keeps uploaded chunks by their SHA-1 (a chunk stored before is kept as it is).
    func storeChunks(_ chunks: [(checksum: String, data: [UInt8])], now: Date) async throws
    /// Which of `checksums` no chunk has been uploaded for, in their order.
    func missingChunks(_ checksums: [String]) async throws -> [String]
    /// The chunks' data by checksum (those stored).
    func chunks(_ checksums: [String]) async throws -> [String: [UInt8]]
    /// Whether a bundle with this checksum is stored for every one of the projects.
    func hasBundle(checksum: String, projectIDs: [Int64]) async throws -> Bool
    /// Stores the bundle and its files for each project (a project that has it already keeps its copy).
    func storeBundle(_ bundle: ArtifactBundle, projectIDs: [Int64], now: Date) async throws
    /// The project's bundles, newest first.
    func bundles(projectID: Int64, limit: Int) async throws -> [ArtifactBundleInfo]
    /// Whether the project has any artifact: symbolication skips the lookups for projects without.
    func hasArtifacts(projectID: Int64) async throws -> Bool
    /// The newest file of `kind` with this debug id in the project.
    func artifact(projectID: Int64, debugID: String, kind: ArtifactFile.Kind) async throws -> ArtifactFile?
    /// The newest file uploaded for `release` (and `dist`, when given) at the first of `urls` that has one.
    func artifact(projectID: Int64, release: String, dist: String?, urls: [String]) async throws -> ArtifactFile?
    /// Drops chunks uploaded before `cutoff` (assembled or abandoned); returns how many.
    func pruneChunks(before cutoff: Date) async throws -> Int
}

/// SHA-1 checksums as sentry-cli names chunks and bundles: 40 lower-case hex digits.
public enum ArtifactChecksum {
    public static func sha1(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = Insecure.SHA1()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64 * 1024)
        for byte in bytes {
            buffer.append(byte)
            if buffer.count == 64 * 1024 {
                hasher.update(data: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        hasher.update(data: buffer)
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `text` is a checksum as sent: 40 hex digits (compared lower-cased).
    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) }
    }
}
