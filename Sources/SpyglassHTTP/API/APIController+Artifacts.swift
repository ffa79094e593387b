import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SpyglassCore
import SpyglassProtocol

/// Sentry's upload flow for source maps, as `sentry-cli sourcemaps upload` drives it: ask the chunk options, send
/// the bundle's missing chunks (SHA-1 named, gzip'd), then ask for the bundle to be assembled from them. Assembly
/// runs within the request (a bundle is at most ``ArtifactLimits/maxBundleSize``), so the answer is `ok` or
/// `error` at once and sentry-cli stops polling.
extension APIController {
    func addArtifactRoutes(to api: PolicedRoutes<RouterGroup<Context>>) {
        add(api, .get, "organizations/:org/chunk-upload", .manageReleases, chunkUploadOptions)
        add(api, .post, "organizations/:org/chunk-upload", .manageReleases, uploadChunks)
        add(api, .post, "organizations/:org/artifactbundle/assemble", .manageReleases, assembleArtifactBundle)
        add(api, .get, "projects/:org/:project/files/artifact-bundles", .readReleases, listArtifactBundles)
    }

    /// The projects where the user may upload: at least one, else the upload is refused.
    func uploadProjects(_ context: Context) throws -> [ProjectInfo] {
        let projects = try scopedProjects(context, names: [])
        guard !projects.isEmpty else {
            throw APIError(status: .forbidden, detail: "uploading artifacts needs the admin role in a project")
        }
        return projects
    }

    /// `GET /organizations/{org}/chunk-upload/`: how sentry-cli should cut and send chunks.
    @Sendable func chunkUploadOptions(_ request: Request, context: Context) async throws -> Response {
        _ = try uploadProjects(context)
        return try APIJSON.response(encoding: SentryJSON.ChunkUploadOptions(url: "organizations/\(organization)/chunk-upload/"))
    }

    /// `POST /organizations/{org}/chunk-upload/`: a form whose parts (`file`, or gzip'd `file_gzip`) are chunks
    /// named by their SHA-1; each is checked against its name before it is kept.
    @Sendable func uploadChunks(_ request: Request, context: Context) async throws -> Response {
        _ = try uploadProjects(context)
        guard let boundary = MultipartForm.boundary(contentType: request.headers[.contentType]) else {
            throw APIError.badRequest("Content-Type: expected multipart/form-data with a boundary")
        }
        let body = try await request.body.collect(upTo: ArtifactLimits.maxRequestSize + 1024 * 1024)
        let form: MultipartForm
        do { form = try MultipartForm(Array(body.readableBytesView), boundary: boundary) } catch let error as ZipError {
            throw APIError.badRequest(error.message)
        }
        var chunks: [(checksum: String, data: [UInt8])] = []
        for (index, part) in form.parts.enumerated() {
            guard part.name == "file" || part.name == "file_gzip" else {
                throw APIError.badRequest("part \(index): field \"\(part.name.prefix(64))\" (expected file or file_gzip)")
            }
            guard let checksum = part.filename, ArtifactChecksum.isValid(checksum) else {
                throw APIError.badRequest("part \(index): the file name must be the chunk's SHA-1 (40 hex digits)")
            }
            var data = Array(part.data)
            if part.name == "file_gzip" {
                data = try Self.gunzip(data, limit: ArtifactLimits.chunkSize, part: index)
            }
            guard data.count <= ArtifactLimits.chunkSize else {
                throw APIError.badRequest("part \(index): \(data.count) bytes, more than the chunk size \(ArtifactLimits.chunkSize)")
            }
            guard ArtifactChecksum.sha1(data) == checksum.lowercased() else {
                throw APIError.badRequest("part \(index): the data's SHA-1 is not its name \(checksum)")
            }
            chunks.append((checksum.lowercased(), data))
        }
        guard !chunks.isEmpty else { throw APIError.badRequest("no chunks in the form (fields file or file_gzip)") }
        try await storage.artifacts.storeChunks(chunks, now: .now)
        return APIJSON.response([:])
    }

    static func gunzip(_ bytes: [UInt8], limit: Int, part: Int) throws -> [UInt8] {
        do {
            return try ZlibDecoder(format: .gzip).decodeAll(bytes, limit: limit) {
                APIError.badRequest("part \(part): inflates to more than the chunk size \(limit)")
            }
        } catch let error as DecodingError {
            throw APIError.badRequest("part \(part): \(error.description)")
        }
    }

    /// `POST /organizations/{org}/artifactbundle/assemble/`: `{checksum, chunks, projects, version, dist}`. Answers
    /// `not_found` with the chunks still missing, else assembles, checks and stores the bundle: `ok`, or `error`
    /// with the reason.
    @Sendable func assembleArtifactBundle(_ request: Request, context: Context) async throws -> Response {
        let body = try await APIJSON.decode(AssembleRequest.self, request, context: context)
        guard ArtifactChecksum.isValid(body.checksum) else {
            throw APIError.badRequest("checksum: expected the bundle's SHA-1 (40 hex digits)")
        }
        guard body.chunks.count <= ArtifactLimits.maxChunks else {
            throw APIError.badRequest("chunks: \(body.chunks.count) chunks; a bundle is at most \(ArtifactLimits.maxBundleSize) bytes")
        }
        let checksum = body.checksum
        let chunks = try body.chunks.enumerated().map { index, text in
            guard ArtifactChecksum.isValid(text) else {
                throw APIError.badRequest("chunks[\(index)]: expected a SHA-1 checksum (40 hex digits)")
            }
            return text.lowercased()
        }
        let names = body.projects ?? []
        guard !names.isEmpty else { throw APIError.badRequest("projects: name at least one project") }
        let projects = try scopedProjects(context, names: names)
        let release = body.version.flatMap { $0.isEmpty ? nil : String($0.prefix(200)) }
        let dist = body.dist.flatMap { $0.isEmpty ? nil : String($0.prefix(64)) }
        let projectIDs = projects.map(\.id)

        func answer(_ state: String, missing: [String] = [], detail: String? = nil) throws -> Response {
            try APIJSON.response(encoding: AssembleAnswer(state: state, missingChunks: missing, detail: detail))
        }
        if try await storage.artifacts.hasBundle(checksum: checksum, projectIDs: projectIDs) { return try answer("ok") }
        let missing = try await storage.artifacts.missingChunks(chunks)
        if !missing.isEmpty { return try answer("not_found", missing: missing) }
        let stored = try await storage.artifacts.chunks(chunks)
        var archive: [UInt8] = []
        for chunk in chunks {
            // A chunk pruned since the question above: send it again.
            guard let data = stored[chunk] else { return try answer("not_found", missing: [chunk]) }
            archive += data
            guard archive.count <= ArtifactLimits.maxBundleSize else {
                return try answer("error", detail: "the bundle is larger than \(ArtifactLimits.maxBundleSize) bytes")
            }
        }
        guard ArtifactChecksum.sha1(archive) == checksum.lowercased() else {
            return try answer("error", detail: "the chunks' SHA-1 is not the bundle's checksum \(checksum)")
        }
        let files: [ArtifactFile]
        do { files = try ArtifactBundleReader.files(archive) } catch let error as ZipError {
            return try answer("error", detail: "invalid artifact bundle: \(error.message)")
        }
        try await storage.artifacts.storeBundle(
            ArtifactBundle(checksum: checksum.lowercased(), release: release, dist: dist, files: files), projectIDs: projectIDs,
            now: .now)
        return try answer("ok")
    }

    /// `GET /projects/{org}/{project}/files/artifact-bundles/`: the project's bundles, newest first.
    @Sendable func listArtifactBundles(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let bundles = try await storage.artifacts.bundles(projectID: project.id, limit: try APIJSON.limit(request))
        return try APIJSON.response(encoding: bundles.map(SentryJSON.ArtifactBundle.init))
    }
}
