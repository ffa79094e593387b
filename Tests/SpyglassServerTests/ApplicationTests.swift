import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import SpyglassServer
import SpyglassStorage
import Testing

@Suite struct ApplicationTests {
    func makeApp(
        database: AppDatabase, lines: Lines = Lines(), environment: [String: String] = [:]
    ) throws -> some ApplicationProtocol {
        let logger = Logger(label: "test") { _ in StructuredLogHandler(format: .logfmt, level: .info, sink: lines.append) }
        let configuration = try ServerConfiguration.resolve(flags: ServeFlags(["port": "0"]), environment: environment)
        return buildApplication(
            configuration: configuration,
            dependencies: AppDependencies(database: database, configuration: configuration, logger: logger))
    }

    @Test func healthAndReadinessAnswerWhenTheDatabaseWorks() async throws {
        let app = try makeApp(database: try AppDatabase.inMemory())
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok\n")
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func readinessFailsWhenTheDatabaseTakesNoWrites() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "spyglass-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try AppDatabase.open(directory: directory)
        var configuration = AppDatabase.makeConfiguration()
        configuration.readonly = true
        let path = directory.appending(path: AppDatabase.fileName).path(percentEncoded: false)
        let readOnly = try AppDatabase(unmigrated: DatabaseQueue(path: path, configuration: configuration))
        let app = try makeApp(database: readOnly)
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("not writable"))
            }
            // Liveness does not depend on the database.
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func metricsCountRequestsByRouteAndStatusAndLogOneLineEach() async throws {
        let lines = Lines()
        let app = try makeApp(database: try AppDatabase.inMemory(), lines: lines)
        try await app.test(.router) { client in
            for _ in 0..<3 { try await client.execute(uri: "/healthz", method: .get) { _ in } }
            try await client.execute(uri: "/no/such/page?secret=1", method: .get) { response in
                #expect(response.status == .notFound)
            }
            // Any token is a method to HTTP: beyond its own, they count as one label value (bounded series).
            for name in ["FROB", "ZAP"] {
                try await client.execute(uri: "/healthz", method: try #require(HTTPRequest.Method(name))) { _ in }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"spyglass_http_requests_total{method="GET",route="/healthz",status="200"} 3"#))
                #expect(text.contains(#"status="404"} 1"#))
                #expect(text.contains("# TYPE spyglass_http_request_duration_seconds histogram"))
                #expect(text.contains(#"spyglass_http_request_duration_seconds_count{method="GET",route="/healthz"} 3"#))
                #expect(text.contains(#"spyglass_http_requests_total{method="other","#))
                #expect(!text.contains("FROB") && !text.contains("ZAP"))
            }
        }
        let requests = lines.all.filter { $0.contains("msg=request ") }
        #expect(requests.count == 7)
        #expect(requests.contains { $0.contains("http.method=FROB") })
        let notFound = try #require(requests.first { $0.contains("http.status=404") })
        #expect(notFound.contains("http.method=GET"))
        #expect(notFound.contains("http.path=/no/such/page "))
        #expect(!notFound.contains("secret"))
        #expect(notFound.wholeMatch(of: /.* duration_ms=[0-9.e-]+ .*\n/) != nil)
    }

    @Test func metricsNeedTheBearerTokenWhenOneIsSet() async throws {
        let app = try makeApp(database: try AppDatabase.inMemory(), environment: ["SPYGLASS_METRICS_TOKEN": "s3cret-token"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer wrong-token"]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer s3cret-token"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("spyglass_"))
            }
        }
        let open = try makeApp(database: try AppDatabase.inMemory())
        try await open.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in #expect(response.status == .ok) }
        }
    }
}
