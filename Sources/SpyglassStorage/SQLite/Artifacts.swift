import Foundation
import GRDB
import SpyglassCore

/// Uploaded chunks, artifact bundles and their files in SQLite: the ``ArtifactStore`` port.
public struct SQLiteArtifacts: ArtifactStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    public func storeChunks(_ chunks: [(checksum: String, data: [UInt8])], now: Date) async throws {
        guard !chunks.isEmpty else { return }
        try await writer.write { db in
            let insert = try db.cachedStatement(
                sql: "INSERT INTO file_chunk (checksum, data, created_at) VALUES (?, ?, ?) ON CONFLICT (checksum) DO NOTHING")
            for chunk in chunks {
                try insert.execute(arguments: [chunk.checksum.lowercased(), Data(chunk.data), now.timeIntervalSince1970])
            }
        }
    }

    public func missingChunks(_ checksums: [String]) async throws -> [String] {
        let stored = try await storedChunks(checksums)
        return checksums.filter { !stored.contains($0.lowercased()) }
    }

    private func storedChunks(_ checksums: [String]) async throws -> Set<String> {
        guard !checksums.isEmpty else { return [] }
        return try await writer.read { db in
            var stored: Set<String> = []
            // SQLite's default limit on bound parameters is 32 766: ask in slices.
            for start in stride(from: 0, to: checksums.count, by: 500) {
                let slice = checksums[start..<min(start + 500, checksums.count)].map { $0.lowercased() }
                stored.formUnion(
                    try String.fetchAll(
                        db, sql: "SELECT checksum FROM file_chunk WHERE checksum IN (\(databaseQuestionMarks(count: slice.count)))",
                        arguments: StatementArguments(slice)))
            }
            return stored
        }
    }

    public func chunks(_ checksums: [String]) async throws -> [String: [UInt8]] {
        guard !checksums.isEmpty else { return [:] }
        return try await writer.read { db in
            var found: [String: [UInt8]] = [:]
            let select = try db.cachedStatement(sql: "SELECT data FROM file_chunk WHERE checksum = ?")
            for checksum in Set(checksums.map { $0.lowercased() }) {
                if let data = try Data.fetchOne(select, arguments: [checksum]) { found[checksum] = Array(data) }
            }
            return found
        }
    }

    public func hasBundle(checksum: String, projectIDs: [Int64]) async throws -> Bool {
        guard !projectIDs.isEmpty else { return false }
        return try await writer.read { db in
            let count = try Int.fetchOne(
                db,
                sql: """
                    SELECT count(DISTINCT project_id) FROM artifact_bundle
                    WHERE checksum = ? AND project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))
                    """,
                arguments: [checksum.lowercased()] + StatementArguments(projectIDs)) ?? 0
            return count == Set(projectIDs).count
        }
    }

    public func storeBundle(_ bundle: ArtifactBundle, projectIDs: [Int64], now: Date) async throws {
        try await writer.write { db in
            let insertFile = try db.cachedStatement(
                sql: """
                    INSERT INTO artifact_file (bundle_id, project_id, url, kind, debug_id, sourcemap, release, dist, content)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for projectID in Set(projectIDs).sorted() {
                try db.execute(
                    sql: """
                        INSERT INTO artifact_bundle (project_id, checksum, release, dist, file_count, created_at)
                        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, checksum) DO NOTHING
                        """,
                    arguments: [
                        projectID, bundle.checksum.lowercased(), bundle.release, bundle.dist, bundle.files.count,
                        now.timeIntervalSince1970,
                    ])
                guard db.changesCount > 0 else { continue }
                let bundleID = db.lastInsertedRowID
                for file in bundle.files {
                    try insertFile.execute(arguments: [
                        bundleID, projectID, file.url, file.kind.rawValue, file.debugID, file.sourceMapReference, bundle.release,
                        bundle.dist, Data(file.content),
                    ])
                }
            }
        }
    }

    public func bundles(projectID: Int64, limit: Int) async throws -> [ArtifactBundleInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT checksum, release, dist, file_count, created_at FROM artifact_bundle WHERE project_id = ?
                    ORDER BY created_at DESC, id DESC LIMIT ?
                    """,
                arguments: [projectID, limit]
            ).map {
                ArtifactBundleInfo(
                    checksum: $0["checksum"], release: $0["release"], dist: $0["dist"], fileCount: $0["file_count"],
                    created: Date(timeIntervalSince1970: $0["created_at"]))
            }
        }
    }

    public func hasArtifacts(projectID: Int64) async throws -> Bool {
        try await writer.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM artifact_bundle WHERE project_id = ?)", arguments: [projectID])
                ?? false
        }
    }

    public func artifact(projectID: Int64, debugID: String, kind: ArtifactFile.Kind) async throws -> ArtifactFile? {
        try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT url, kind, debug_id, sourcemap, content FROM artifact_file
                    WHERE project_id = ? AND debug_id = ? AND kind = ? ORDER BY id DESC LIMIT 1
                    """,
                arguments: [projectID, debugID.lowercased(), kind.rawValue]
            ).flatMap(Self.file)
        }
    }

    public func artifact(projectID: Int64, release: String, dist: String?, urls: [String]) async throws -> ArtifactFile? {
        try await writer.read { db in
            let select = try db.cachedStatement(
                sql: """
                    SELECT url, kind, debug_id, sourcemap, content FROM artifact_file
                    WHERE project_id = ? AND release = ? AND url = ? AND (dist IS ? OR ? IS NULL) ORDER BY id DESC LIMIT 1
                    """)
            for url in urls {
                if let row = try Row.fetchOne(select, arguments: [projectID, release, url, dist, dist]), let file = Self.file(row) {
                    return file
                }
            }
            return nil
        }
    }

    public func pruneChunks(before cutoff: Date) async throws -> Int {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM file_chunk WHERE created_at < ?", arguments: [cutoff.timeIntervalSince1970])
            return db.changesCount
        }
    }

    static func file(_ row: Row) -> ArtifactFile? {
        guard let kind = ArtifactFile.Kind(rawValue: row["kind"]) else { return nil }
        let content: Data = row["content"]
        return ArtifactFile(
            url: row["url"], kind: kind, debugID: row["debug_id"], sourceMapReference: row["sourcemap"], content: Array(content))
    }
}
