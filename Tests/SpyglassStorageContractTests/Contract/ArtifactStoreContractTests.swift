import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import Testing

extension TestStore {
    /// The ``ArtifactStore`` of this backend.
    var artifacts: any ArtifactStore {
        switch database {
        case .sqlite(let database): SQLiteArtifacts(database)
        case .postgres(let database): PostgresArtifacts(database)
        }
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct ArtifactStoreContractTests {
    @Test(arguments: Backend.allCases)
    func chunksAreKeptByChecksumUntilPruned(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let artifacts = store.artifacts
            let first: [UInt8] = Array("first chunk".utf8)
            let second: [UInt8] = [0, 1, 2, 255]
            let (a, b) = (ArtifactChecksum.sha1(first), ArtifactChecksum.sha1(second))
            #expect(try await artifacts.missingChunks([a, b]) == [a, b])
            try await artifacts.storeChunks([(a, first)], now: store.now)
            // Sent again (a retry), nothing changes; checksums are compared without case.
            try await artifacts.storeChunks([(a.uppercased(), first), (b, second)], now: store.now.addingTimeInterval(10))
            #expect(try await artifacts.missingChunks([b.uppercased(), a, "0" + a.dropFirst()]) == ["0" + a.dropFirst()])
            #expect(try await artifacts.chunks([a, b, b]) == [a: first, b: second])
            #expect(try await artifacts.pruneChunks(before: store.now.addingTimeInterval(5)) == 1)
            #expect(try await artifacts.missingChunks([a, b]) == [a])
        }
    }

    @Test(arguments: Backend.allCases)
    func bundlesAreStoredPerProjectAndFoundByDebugIDOrReleaseAndURL(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let artifacts = store.artifacts
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            let debugID = "c941d872-af1f-4f0c-a7ff-ad3d295fe153"
            let minified = ArtifactFile(
                url: "~/app.min.js", kind: .minifiedSource, debugID: debugID, sourceMapReference: "app.min.js.map",
                content: Array("function a(){}".utf8))
            let map = ArtifactFile(url: "~/app.min.js.map", kind: .sourceMap, debugID: debugID, content: [0x7b, 0x7d, 0])
            let bundle = ArtifactBundle(checksum: String(repeating: "ab", count: 20), release: "1.0", dist: "web", files: [minified, map])
            #expect(try await !artifacts.hasArtifacts(projectID: shop.id))
            try await artifacts.storeBundle(bundle, projectIDs: [shop.id], now: store.now)
            #expect(try await artifacts.hasBundle(checksum: bundle.checksum, projectIDs: [shop.id]))
            #expect(try await !artifacts.hasBundle(checksum: bundle.checksum, projectIDs: [shop.id, blog.id]))
            // Assembled again for both: the shop keeps its one copy, the blog gets its own.
            try await artifacts.storeBundle(bundle, projectIDs: [shop.id, blog.id], now: store.now.addingTimeInterval(1))
            #expect(try await artifacts.hasBundle(checksum: bundle.checksum.uppercased(), projectIDs: [shop.id, blog.id]))
            #expect(
                try await artifacts.bundles(projectID: shop.id, limit: 10)
                    == [ArtifactBundleInfo(checksum: bundle.checksum, release: "1.0", dist: "web", fileCount: 2, created: store.now)])
            #expect(try await artifacts.hasArtifacts(projectID: blog.id))

            #expect(try await artifacts.artifact(projectID: shop.id, debugID: debugID.uppercased(), kind: .sourceMap) == map)
            #expect(try await artifacts.artifact(projectID: shop.id, debugID: debugID, kind: .minifiedSource) == minified)
            #expect(try await artifacts.artifact(projectID: shop.id, debugID: "00000000-0000-0000-0000-000000000000", kind: .sourceMap) == nil)
            #expect(
                try await artifacts.artifact(projectID: shop.id, release: "1.0", dist: "web", urls: ["/x.js", "~/app.min.js"]) == minified)
            // Without a dist, any dist of the release; another dist or release: none.
            #expect(try await artifacts.artifact(projectID: shop.id, release: "1.0", dist: nil, urls: ["~/app.min.js.map"]) == map)
            #expect(try await artifacts.artifact(projectID: shop.id, release: "1.0", dist: "ios", urls: ["~/app.min.js"]) == nil)
            #expect(try await artifacts.artifact(projectID: shop.id, release: "2.0", dist: nil, urls: ["~/app.min.js"]) == nil)
            // Deleting a project takes its bundles with it; the other project's stay.
            try await store.execute("DELETE FROM project WHERE id = ?", [.int(shop.id)])
            #expect(try await artifacts.artifact(projectID: blog.id, debugID: debugID, kind: .sourceMap) == map)
            #expect(try await artifacts.bundles(projectID: shop.id, limit: 10).isEmpty)
        }
    }
}
