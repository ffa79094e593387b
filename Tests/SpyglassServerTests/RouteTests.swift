import CZlib
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Logging
import ServiceLifecycle
import SpyglassCore
import SpyglassProtocol
import SpyglassServer
import SpyglassStorage
import Testing

/// The HTTP routes in process (`app.test(.router)`), on a real SQLite database with the ingest writer running:
/// ingest's auth styles, encodings and limits, a route of each API resource with pagination and errors, and the
/// web login. A change to a controller fails here without the end-to-end suite.
@Suite struct RouteTests {
    static let password = "correct-horse-9"
    static let quiet = Logger(label: "routes") { _ in SwiftLogNoOpLogHandler() }

    struct Fixture {
        var key: String
        var projectID: Int64
        var token: String
    }

    /// The application on a fresh database with the admin, the `default` project and an API token, its writer running.
    func withApp(environment: [String: String] = [:], _ body: @Sendable (any TestClientProtocol, Fixture) async throws -> Void) async throws {
        let database = try AppDatabase.inMemory()
        let configuration = try ServerConfiguration.resolve(flags: ServeFlags(["port": "0"]), environment: environment)
        let dependencies = AppDependencies(database: database, configuration: configuration, logger: Self.quiet)
        let report = try await dependencies.storage.maintenance.bootstrap(adminEmail: "admin@example.com", adminPassword: Self.password, now: .now)
        let project = try #require(report.project)
        let key = try #require(report.keys.first).publicKey
        let (token, hash) = APIToken.generate()
        _ = try database.createAPIToken(userEmail: "admin@example.com", name: "routes", tokenHash: hash, now: .now)
        let app = Application(router: buildRouter(configuration, dependencies))
        let fixture = Fixture(key: key, projectID: project.id, token: token)
        let group = ServiceGroup(services: [dependencies.writer], logger: Self.quiet)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await app.test(.router) { client in try await body(client, fixture) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func event(_ type: String) -> String {
        #"{"event_id":"\#(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())","level":"error","platform":"python","exception":{"values":[{"type":"\#(type)","value":"boom"}]}}"#
    }

    static func envelope(_ type: String, dsn: String? = nil) -> String {
        let header = dsn.map { #"{"dsn":"\#($0)"}"# } ?? "{}"
        let payload = event(type)
        return "\(header)\n{\"type\":\"event\",\"length\":\(payload.utf8.count)}\n\(payload)\n"
    }

    static func gzip(_ text: String) -> ByteBuffer {
        let input = Array(text.utf8)
        var stream = z_stream()
        deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        var input2 = input
        input2.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                deflate(&stream, Z_FINISH)
            }
        }
        let written = output.count - Int(stream.avail_out)
        deflateEnd(&stream)
        return ByteBuffer(bytes: output.prefix(written))
    }

    /// Two events of two issues, through the envelope endpoint.
    static func sendTwoErrors(_ client: any TestClientProtocol, _ fixture: Fixture) async throws {
        for type in ["FirstError", "SecondError"] {
            try await client.execute(
                uri: "/api/\(fixture.projectID)/envelope/?sentry_key=\(fixture.key)", method: .post,
                body: ByteBuffer(string: Self.envelope(type))) { #expect($0.status == .ok) }
        }
    }

    /// The body as JSON (null when it is not JSON).
    func json(_ response: TestResponse) -> JSONValue { (try? JSONParser.parse(Array(buffer: response.body))) ?? .null }

    @Test func ingestTakesEachAuthStyleAndEncodingAndRefusesBadKeysAndOversizedBodies() async throws {
        try await withApp(environment: ["SPYGLASS_MAX_ENVELOPE_SIZE": "65536"]) { client, fixture in
            let dsn = "http://\(fixture.key)@127.0.0.1:8000/\(fixture.projectID)"
            // The X-Sentry-Auth header.
            try await client.execute(
                uri: "/api/\(fixture.projectID)/envelope/", method: .post,
                headers: [HTTPField.Name("X-Sentry-Auth")!: "Sentry sentry_key=\(fixture.key), sentry_version=7"],
                body: ByteBuffer(string: Self.envelope("HeaderError"))
            ) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                #expect(json(response)["id"]?.stringValue?.count == 32)
            }
            // The key in the query, the body gzip'd, on the store endpoint.
            try await client.execute(
                uri: "/api/\(fixture.projectID)/store/?sentry_key=\(fixture.key)&sentry_version=7", method: .post,
                headers: [.contentEncoding: "gzip", .contentType: "application/json"], body: Self.gzip(Self.event("GzipError"))
            ) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
            }
            // The DSN in the envelope's header, nothing else.
            try await client.execute(
                uri: "/api/\(fixture.projectID)/envelope/", method: .post, body: ByteBuffer(string: Self.envelope("DsnError", dsn: dsn))
            ) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
            }
            // A key that is not the project's, and none at all: refused, saying why.
            try await client.execute(
                uri: "/api/\(fixture.projectID)/envelope/", method: .post,
                headers: [HTTPField.Name("X-Sentry-Auth")!: "Sentry sentry_key=\(String(repeating: "0", count: 32))"],
                body: ByteBuffer(string: Self.envelope("NoError"))
            ) { response in
                #expect([.unauthorized, .forbidden].contains(response.status))
                #expect(String(buffer: response.body).lowercased().contains("key"))
            }
            try await client.execute(uri: "/api/\(fixture.projectID)/store/", method: .post, body: ByteBuffer(string: Self.event("NoKeyError"))) {
                response in
                #expect(response.status == .unauthorized)
            }
            // Over the envelope limit: 413 with the limit named.
            let big = Self.envelope("BigError") + String(repeating: "x", count: 70_000)
            try await client.execute(
                uri: "/api/\(fixture.projectID)/envelope/?sentry_key=\(fixture.key)", method: .post, body: ByteBuffer(string: big)
            ) { response in
                #expect(response.status == .contentTooLarge)
                #expect(json(response)["detail"]?.stringValue == "envelope exceeds the 64 KiB limit")
            }
            // The three accepted events made three issues.
            try await client.execute(
                uri: "/api/0/projects/spyglass/default/issues/?query=", method: .get,
                headers: [.authorization: "Bearer \(fixture.token)"]
            ) { response in
                let types = json(response).arrayValue?.compactMap { $0["metadata"]?["type"]?.stringValue }.sorted()
                #expect(types == ["DsnError", "GzipError", "HeaderError"])
            }
        }
    }

    @Test func theAPIAnswersEachResourcePagesWithLinkHeadersAndSaysWhatIsWrong() async throws {
        try await withApp { client, fixture in
            let auth: HTTPFields = [.authorization: "Bearer \(fixture.token)"]
            try await Self.sendTwoErrors(client, fixture)
            try await client.execute(uri: "/api/0/projects/", method: .get, headers: auth) { response in
                #expect(json(response).arrayValue?.compactMap { $0["slug"]?.stringValue } == ["default"])
            }
            var issueID = ""
            try await client.execute(uri: "/api/0/projects/spyglass/default/issues/?query=&limit=1", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                #expect(json(response).arrayValue?.count == 1)
                let link = response.headers[HTTPField.Name("Link")!] ?? ""
                #expect(link.contains(#"rel="next"; results="true"; cursor="0:1:0""#), "\(link)")
                issueID = json(response).arrayValue?.first?["id"]?.stringValue ?? ""
            }
            try await client.execute(uri: "/api/0/projects/spyglass/default/issues/?query=&limit=1&cursor=0:1:0", method: .get, headers: auth) {
                response in
                #expect(response.headers[HTTPField.Name("Link")!]?.contains(#"rel="next"; results="false""#) == true)
                #expect(json(response).arrayValue?.first?["id"]?.stringValue != issueID)
            }
            try await client.execute(uri: "/api/0/issues/\(issueID)/", method: .get, headers: auth) { response in
                #expect(json(response)["id"]?.stringValue == issueID)
            }
            try await client.execute(uri: "/api/0/issues/\(issueID)/events/latest/", method: .get, headers: auth) { response in
                #expect(json(response)["groupID"]?.stringValue == issueID)
            }
            try await client.execute(uri: "/api/0/organizations/spyglass/releases/", method: .get, headers: auth) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/0/projects/spyglass/default/rules/", method: .get, headers: auth) { response in
                #expect(json(response).arrayValue?.isEmpty == false, "the default rule")
            }
            // Errors say what is wrong: no token, an unknown issue, a query that cannot be read, a bad body.
            try await client.execute(uri: "/api/0/projects/", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(json(response)["detail"]?.stringValue?.isEmpty == false)
            }
            try await client.execute(uri: "/api/0/issues/987654/", method: .get, headers: auth) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/0/projects/spyglass/default/issues/?query=is:sideways", method: .get, headers: auth) {
                response in
                #expect(response.status == .badRequest)
                #expect(json(response)["detail"]?.stringValue?.contains("sideways") == true)
            }
            try await client.execute(uri: "/api/0/issues/\(issueID)/", method: .put, headers: auth, body: ByteBuffer(string: "{not json")) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(
                uri: "/api/0/issues/\(issueID)/", method: .put, headers: auth, body: ByteBuffer(string: #"{"status":"resolved"}"#)
            ) { response in
                #expect(json(response)["status"]?.stringValue == "resolved")
            }
            // Codable bodies: what does not fit the type is a 400 naming the field, through HTTPResponseError.
            let comments = "/api/0/issues/\(issueID)/comments/"
            for (body, detail) in [
                (#"{}"#, "text: missing"), (#"{"text": 7}"#, "text: expected a string"),
                (#"{"text": null}"#, "text: expected a string, not null"), ("[1", "request body: invalid JSON"),
            ] {
                try await client.execute(uri: comments, method: .post, headers: auth, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest)
                    #expect(json(response)["detail"]?.stringValue == detail, "\(body)")
                }
            }
            try await client.execute(uri: comments, method: .post, headers: auth, body: ByteBuffer(string: #"{"text": "looking"}"#)) {
                #expect($0.status == .created)
            }
            try await client.execute(
                uri: "/api/0/organizations/spyglass/artifactbundle/assemble/", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"checksum": "\#(String(repeating: "a", count: 40))", "chunks": ["ab", 3]}"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(json(response)["detail"]?.stringValue == "chunks[1]: expected a string")
            }
        }
    }

    /// Issue, release and deploy bodies are Decodable types: a field of the wrong type is a 400 naming it, Sentry's
    /// variants (`merge: 1`, `assignedTo: null`, epoch-second dates) are read, and answers keep Sentry's explicit nulls.
    @Test func releaseDeployAndIssueBodiesAreTypedAndAnswersKeepSentrysNulls() async throws {
        try await withApp { client, fixture in
            let auth: HTTPFields = [.authorization: "Bearer \(fixture.token)"]
            try await Self.sendTwoErrors(client, fixture)
            func send(_ method: HTTPRequest.Method, _ path: String, _ body: String) async throws -> (HTTPResponse.Status, JSONValue) {
                try await client.execute(uri: "/api/0/\(path)", method: method, headers: auth, body: ByteBuffer(string: body)) {
                    ($0.status, json($0))
                }
            }
            let releases = "organizations/spyglass/releases/"
            for (body, detail) in [
                (#"{"version": "1.0", "projects": ["default"], "dateReleased": "soon"}"#,
                 "dateReleased: expected an ISO 8601 date or epoch seconds between 1970 and 9999"),
                (#"{"version": "1.0", "projects": "default"}"#, "projects: expected a list"),
                (#"{"version": 1, "projects": ["default"]}"#, "version: expected a string"),
                (#"{"version": "1.0", "projects": ["default"], "commits": [{"message": "fix"}]}"#, "commits[0].id: missing"),
                (#"{"version": "1.0", "projects": ["default"], "commits": [{"id": "abc", "patch_set": [{"path": "a.py", "type": "X"}]}]}"#,
                 "commits[0].patch_set[0].type: expected A, M or D"),
                (#"{"version": "1.0", "projects": ["default"], "refs": [{"repository": "shop/api"}]}"#, "refs[0].commit: missing"),
            ] {
                let (status, answer) = try await send(.post, releases, body)
                #expect(status == .badRequest, "\(body)")
                #expect(answer["detail"]?.stringValue == detail, "\(body)")
            }
            let (listed, none) = try await send(.get, releases, "")
            #expect(listed == .ok && none.arrayValue?.isEmpty == true, "a refused body creates nothing, commits checked first")
            let (created, release) = try await send(.post, releases, #"{"version": "1.0", "projects": ["default"], "dateReleased": 1764547200}"#)
            #expect(created == .created)
            #expect(release["dateReleased"]?.stringValue == "2025-12-01T00:00:00.000Z")
            #expect(release["ref"] == .null && release["lastDeploy"] == .null && release["lastCommit"] == .null, "explicit nulls")
            #expect(release["healthData"]?["hasHealthData"]?.boolValue == false)
            #expect(release["healthData"]?["crashFreeSessions"] == .null)
            #expect(release["projects"]?.arrayValue?.first?["slug"]?.stringValue == "default")

            let deploys = "organizations/spyglass/releases/1.0/deploys/"
            #expect(try await send(.post, deploys, #"{"name": "blue"}"#).1["detail"]?.stringValue == "environment: missing")
            let (deployed, deploy) = try await send(.post, deploys, #"{"environment": "production", "dateStarted": "2025-12-01T10:00:00Z"}"#)
            #expect(deployed == .created)
            #expect(deploy["environment"]?.stringValue == "production" && deploy["name"] == .null && deploy["url"] == .null)
            #expect(deploy["dateStarted"]?.stringValue == "2025-12-01T10:00:00.000Z")

            let issues = try await client.execute(uri: "/api/0/projects/spyglass/default/issues/?query=", method: .get, headers: auth) {
                json($0).arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            }
            try #require(issues.count == 2)
            for (body, detail) in [
                (#"{"status": 5}"#, "status: expected a string"),
                (#"{"status": "ignored", "statusDetails": []}"#, "statusDetails: expected an object"),
                (#"{"status": "ignored", "statusDetails": {"ignoreCount": "ten"}}"#, "statusDetails.ignoreCount: expected a number"),
                (#"{"status": "ignored", "statusDetails": {"ignoreUntil": "tomorrow"}}"#,
                 "statusDetails.ignoreUntil: expected an ISO 8601 date or epoch seconds between 1970 and 9999"),
                (#"{"assignedTo": 3}"#, "assignedTo: expected a string"),
                (#"{}"#, "nothing to change: send status, assignedTo or merge"),
            ] {
                let (status, answer) = try await send(.put, "issues/\(issues[0])/", body)
                #expect(status == .badRequest, "\(body)")
                #expect(answer["detail"]?.stringValue == detail, "\(body)")
            }
            let (_, assigned) = try await send(.put, "issues/\(issues[0])/", #"{"assignedTo": "me"}"#)
            #expect(assigned["assignedTo"]?["email"]?.stringValue == "admin@example.com")
            let (_, unassigned) = try await send(.put, "issues/\(issues[0])/", #"{"assignedTo": null}"#)
            #expect(unassigned["assignedTo"] == .null && unassigned.objectValue?.keys.contains("assignedTo") == true)
            let bulk = "projects/spyglass/default/issues/?id=\(issues[0])&id=\(issues[1])"
            let (_, echo) = try await send(.put, bulk, #"{"assignedTo": ""}"#)
            #expect(echo == ["assignedTo": .null], "a bulk change echoes what changed, null for unassigned")
            #expect(try await send(.put, bulk, #"{"merge": 2}"#).1["detail"]?.stringValue == "merge: expected true, false, 1 or 0")
            let (_, merged) = try await send(.put, bulk, #"{"merge": 1}"#)
            #expect(merged["merge"]?["children"]?.arrayValue?.count == 1)
            try await client.execute(uri: "/api/0/projects/spyglass/default/issues/?query=&statsPeriod=14d", method: .get, headers: auth) {
                response in
                let stats = json(response).arrayValue?.first?["stats"]
                #expect(stats?["14d"]?.arrayValue?.count == 14, "14 daily buckets under the period asked for")
            }
        }
    }

    @Test func theWebLoginTakesTheRightPasswordWithItsCSRFTokenAndRefusesTheRest() async throws {
        try await withApp { client, _ in
            var cookie = ""
            var csrf = ""
            try await client.execute(uri: "/login", method: .get) { response in
                #expect(response.status == .ok)
                cookie = (response.headers[.setCookie] ?? "").split(separator: ";").first.map(String.init) ?? ""
                let page = String(buffer: response.body)
                if let range = page.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression) {
                    csrf = String(page[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
                }
            }
            #expect(!cookie.isEmpty && !csrf.isEmpty)
            func login(_ password: String, csrf: String, cookie: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .cookie: cookie],
                    body: ByteBuffer(string: "csrf=\(csrf)&email=admin%40example.com&password=\(password)"))
            }
            let wrong = try await login("wrong-horse-1", csrf: csrf, cookie: cookie)
            #expect(wrong.status == .unauthorized)
            #expect(String(buffer: wrong.body).contains("Wrong e-mail or password") || String(buffer: wrong.body).lowercased().contains("password"))
            // Without its cookie (a cross-site post) the right password is refused too.
            #expect(try await login(Self.password, csrf: csrf, cookie: "").status == .forbidden)
            let right = try await login(Self.password, csrf: csrf, cookie: cookie)
            #expect(right.status == .seeOther)
            #expect(right.headers[.location]?.hasPrefix("/organizations/spyglass/issues/") == true || right.headers[.location] == "/")
            #expect(right.headers[.setCookie]?.contains("spyglass_session=") == true)
        }
    }
}
