import Foundation
import Logging
import NIOCore
import PostgresNIO
import SpyglassCore

/// Uploaded chunks, artifact bundles and their files in PostgreSQL: the ``ArtifactStore`` port.
public struct PostgresArtifacts: ArtifactStore {
    let database: PostgresAppDatabase

    /// The port over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    var logger: Logger { database.logger }

    public func storeChunks(_ chunks: [(checksum: String, data: [UInt8])], now: Date) async throws {
        let logger = logger
        let time = now.timeIntervalSince1970
        try await database.withTransaction { connection in
            for chunk in chunks {
                try await connection.execute(
                    """
                    INSERT INTO file_chunk (checksum, data, created_at) VALUES (\(chunk.checksum.lowercased()), \(ByteBuffer(bytes: chunk.data)), \(time))
                    ON CONFLICT (checksum) DO NOTHING
                    """, logger: logger)
            }
        }
    }

    public func missingChunks(_ checksums: [String]) async throws -> [String] {
        guard !checksums.isEmpty else { return [] }
        let stored = Set(
            try await database.withConnection { connection in
                try await connection.column(
                    "SELECT checksum FROM file_chunk WHERE checksum = ANY(\(checksums.map { $0.lowercased() }))", as: String.self,
                    logger: logger)
            })
        return checksums.filter { !stored.contains($0.lowercased()) }
    }

    public func chunks(_ checksums: [String]) async throws -> [String: [UInt8]] {
        guard !checksums.isEmpty else { return [:] }
        return try await database.withConnection { connection in
            var found: [String: [UInt8]] = [:]
            for checksum in Set(checksums.map { $0.lowercased() }) {
                if let row = try await connection.row("SELECT data FROM file_chunk WHERE checksum = \(checksum)", logger: logger) {
                    found[checksum] = Array(try row.decode("data", as: ByteBuffer.self).readableBytesView)
                }
            }
            return found
        }
    }

    public func hasBundle(checksum: String, projectIDs: [Int64]) async throws -> Bool {
        guard !projectIDs.isEmpty else { return false }
        let count = try await database.withConnection { connection in
            try await connection.scalar(
                """
                SELECT count(DISTINCT project_id) FROM artifact_bundle
                WHERE checksum = \(checksum.lowercased()) AND project_id = ANY(\(projectIDs))
                """, as: Int64.self, logger: logger)
        }
        return Int(count ?? 0) == Set(projectIDs).count
    }

    public func storeBundle(_ bundle: ArtifactBundle, projectIDs: [Int64], now: Date) async throws {
        let logger = logger
        let time = now.timeIntervalSince1970
        try await database.withTransaction { connection in
            for projectID in Set(projectIDs).sorted() {
                guard
                    let bundleID = try await connection.scalar(
                        """
                        INSERT INTO artifact_bundle (project_id, checksum, release, dist, file_count, created_at)
                        VALUES (\(projectID), \(bundle.checksum.lowercased()), \(bundle.release)::text, \(bundle.dist)::text,
                            \(Int64(bundle.files.count)), \(time))
                        ON CONFLICT (project_id, checksum) DO NOTHING RETURNING id
                        """, as: Int64.self, logger: logger)
                else { continue }
                for file in bundle.files {
                    try await connection.execute(
                        """
                        INSERT INTO artifact_file (bundle_id, project_id, url, kind, debug_id, sourcemap, release, dist, content)
                        VALUES (\(bundleID), \(projectID), \(file.url), \(file.kind.rawValue), \(file.debugID)::text,
                            \(file.sourceMapReference)::text, \(bundle.release)::text, \(bundle.dist)::text, \(ByteBuffer(bytes: file.content)))
                        """, logger: logger)
                }
            }
        }
    }

    public func bundles(projectID: Int64, limit: Int) async throws -> [ArtifactBundleInfo] {
        try await database.withConnection { connection in
            try await connection.rows(
                """
                SELECT checksum, release, dist, file_count, created_at FROM artifact_bundle WHERE project_id = \(projectID)
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """, logger: logger
            ).map { row in
                ArtifactBundleInfo(
                    checksum: try row.decode("checksum"), release: try row.decode("release"), dist: try row.decode("dist"),
                    fileCount: Int(try row.decode("file_count", as: Int64.self)),
                    created: Date(timeIntervalSince1970: try row.decode("created_at")))
            }
        }
    }

    public func hasArtifacts(projectID: Int64) async throws -> Bool {
        try await database.withConnection { connection in
            try await connection.scalar(
                "SELECT EXISTS (SELECT 1 FROM artifact_bundle WHERE project_id = \(projectID))", as: Bool.self, logger: logger)
        } ?? false
    }

    public func artifact(projectID: Int64, debugID: String, kind: ArtifactFile.Kind) async throws -> ArtifactFile? {
        try await database.withConnection { connection in
            try await connection.row(
                """
                SELECT url, kind, debug_id, sourcemap, content FROM artifact_file
                WHERE project_id = \(projectID) AND debug_id = \(debugID.lowercased()) AND kind = \(kind.rawValue)
                ORDER BY id DESC LIMIT 1
                """, logger: logger
            ).flatMap(Self.file)
        }
    }

    public func artifact(projectID: Int64, release: String, dist: String?, urls: [String]) async throws -> ArtifactFile? {
        try await database.withConnection { connection in
            for url in urls {
                if let row = try await connection.row(
                    """
                    SELECT url, kind, debug_id, sourcemap, content FROM artifact_file
                    WHERE project_id = \(projectID) AND release = \(release) AND url = \(url)
                        AND (dist IS NOT DISTINCT FROM \(dist)::text OR \(dist)::text IS NULL)
                    ORDER BY id DESC LIMIT 1
                    """, logger: logger), let file = try Self.file(row)
                {
                    return file
                }
            }
            return nil
        }
    }

    public func pruneChunks(before cutoff: Date) async throws -> Int {
        try await database.withConnection { connection in
            try await connection.column(
                "DELETE FROM file_chunk WHERE created_at < \(cutoff.timeIntervalSince1970) RETURNING 1", as: Int32.self,
                logger: logger
            ).count
        }
    }

    static func file(_ row: PostgresRandomAccessRow) throws -> ArtifactFile? {
        guard let kind = ArtifactFile.Kind(rawValue: try row.decode("kind")) else { return nil }
        return ArtifactFile(
            url: try row.decode("url"), kind: kind, debugID: try row.decode("debug_id"),
            sourceMapReference: try row.decode("sourcemap"),
            content: Array(try row.decode("content", as: ByteBuffer.self).readableBytesView))
    }
}
