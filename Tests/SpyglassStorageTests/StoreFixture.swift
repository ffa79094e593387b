import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage
import SpyglassStorageKit

/// A test suite's in-memory database with an admin and a `default` project, and events stored through the
/// real ingest writer.
protocol StoreFixture {
    var now: Date { get }
}

extension StoreFixture {
    func event(_ json: String, at offset: TimeInterval = 0) throws -> NormalizedEvent {
        try EventNormalizer().normalize(JSONParser.parse(json), context: .init(received: now.addingTimeInterval(offset)))
    }

    func setUp() throws -> AppDatabase {
        let database = try AppDatabase.inMemory()
        try database.createUser(email: "admin@example.com", passwordHash: "x", isAdmin: true, now: now)
        try database.createProject(name: "Default", slug: "default", now: now)
        return database
    }

    func store(_ database: AppDatabase, _ events: [NormalizedEvent], project: Int64 = 1) async throws {
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let runner = Task { try await writer.run() }
        for event in events { _ = try await writer.ingest(IngestWork(projectID: project, event: event)) }
        runner.cancel()
    }
}

/// Runs `body` while the writer runs as a service; shuts it down gracefully afterwards.
func withRunningWriter(_ writer: IngestWriter, _ body: @Sendable () async throws -> Void) async throws {
    let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        try await body()
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}
