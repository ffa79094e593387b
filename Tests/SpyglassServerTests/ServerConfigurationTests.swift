import Foundation
import Logging
import SpyglassHTTP
import SpyglassServer
import Testing

@Suite struct ServerConfigurationTests {
    @Test func defaultsNeedNoFlagsAndNoEnvironment() throws {
        let config = try ServerConfiguration.resolve(flags: ServeFlags(), environment: [:])
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8000)
        #expect(config.dataDirectory.lastPathComponent == "spyglass-data")
        #expect(config.baseURL == nil)
        #expect(config.organizationSlug == "spyglass")
        #expect(config.adminPassword == nil)
        #expect(config.logFormat == .logfmt)
        #expect(config.logLevel == .info)
        #expect(config.compactEvents == true)
        #expect(config.effectiveBaseURL(boundPort: 8000).absoluteString == "http://127.0.0.1:8000")
    }

    @Test func flagsWinOverEnvironmentWhichWinsOverDefaults() throws {
        let environment = [
            "SPYGLASS_HOST": "0.0.0.0", "SPYGLASS_PORT": "9000", "SPYGLASS_DATA_DIR": "/var/lib/spyglass",
            "SPYGLASS_BASE_URL": "https://errors.example.com/", "SPYGLASS_ADMIN_EMAIL": "Ops@Example.com",
            "SPYGLASS_ADMIN_PASSWORD": "s3cret-pass", "SPYGLASS_ORG": "acme", "SPYGLASS_LOG_FORMAT": "JSON",
            "SPYGLASS_LOG_LEVEL": "debug",
        ]
        let fromEnvironment = try ServerConfiguration.resolve(flags: ServeFlags(), environment: environment)
        #expect(fromEnvironment.host == "0.0.0.0")
        #expect(fromEnvironment.port == 9000)
        #expect(fromEnvironment.dataDirectory.path(percentEncoded: false).hasPrefix("/var/lib/spyglass"))
        #expect(fromEnvironment.baseURL?.absoluteString == "https://errors.example.com")
        #expect(fromEnvironment.adminEmail == "ops@example.com")
        #expect(fromEnvironment.adminPassword == "s3cret-pass")
        #expect(fromEnvironment.organizationSlug == "acme")
        #expect(fromEnvironment.logFormat == .json)
        #expect(fromEnvironment.logLevel == .debug)

        let flags = ServeFlags(["port": "9100", "org": "other", "log-level": "error"])
        let both = try ServerConfiguration.resolve(flags: flags, environment: environment)
        #expect(both.port == 9100)
        #expect(both.organizationSlug == "other")
        #expect(both.logLevel == .error)
        #expect(both.host == "0.0.0.0")
    }

    @Test func unspecifiedAddressesAreReachedOnLoopback() throws {
        let config = try ServerConfiguration.resolve(flags: ServeFlags(["host": "0.0.0.0"]), environment: [:])
        #expect(config.effectiveBaseURL(boundPort: 1234).absoluteString == "http://127.0.0.1:1234")
        let v6 = try ServerConfiguration.resolve(flags: ServeFlags(["host": "::"]), environment: [:])
        #expect(v6.effectiveBaseURL(boundPort: 1234).absoluteString == "http://[::1]:1234")
    }

    @Test(arguments: [
        (ServeFlags(["port": "abc"]), "--port / SPYGLASS_PORT"),
        (ServeFlags(["port": "70000"]), "--port / SPYGLASS_PORT"),
        (ServeFlags(["base-url": "errors.example.com"]), "--base-url / SPYGLASS_BASE_URL"),
        (ServeFlags(["admin-email": "root"]), "--admin-email / SPYGLASS_ADMIN_EMAIL"),
        (ServeFlags(["org": "Not A Slug"]), "--org / SPYGLASS_ORG"),
        (ServeFlags(["log-format": "xml"]), "--log-format / SPYGLASS_LOG_FORMAT"),
        (ServeFlags(["log-level": "loud"]), "--log-level / SPYGLASS_LOG_LEVEL"),
        (ServeFlags(["host": "two words"]), "--host / SPYGLASS_HOST"),
        // Numbers that would trap where they are used (Int(1e19), milliseconds of 1e16 s).
        (ServeFlags(["ingest-queue": "1e19"]), "--ingest-queue / SPYGLASS_INGEST_QUEUE"),
        (ServeFlags(["max-events-per-project": "1e19"]), "--max-events-per-project / SPYGLASS_MAX_EVENTS_PER_PROJECT"),
        (ServeFlags(["retention-interval": "1e16"]), "--retention-interval / SPYGLASS_RETENTION_INTERVAL"),
        (ServeFlags(["retention-days": "1e300"]), "--retention-days / SPYGLASS_RETENTION_DAYS"),
        (ServeFlags(["max-event-size": "8GiB"]), "--max-event-size / SPYGLASS_MAX_EVENT_SIZE"),
    ])
    func badValuesNameTheSetting(_ flags: ServeFlags, _ setting: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.resolve(flags: flags, environment: [:])
        }
        #expect(error?.setting == setting)
        #expect(error?.description.hasPrefix("invalid \(setting): ") == true)
    }

    @Test func badEnvironmentValuesAreCaughtToo() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.resolve(flags: ServeFlags(), environment: ["SPYGLASS_PORT": "http"])
        }
        #expect(error?.description == "invalid --port / SPYGLASS_PORT: \"http\" is not a port number (0-65535)")
        let password = #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.resolve(flags: ServeFlags(), environment: ["SPYGLASS_ADMIN_PASSWORD": "short"])
        }
        #expect(password?.setting == "SPYGLASS_ADMIN_PASSWORD")
        let compact = #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.resolve(flags: ServeFlags(), environment: ["SPYGLASS_COMPACT_EVENTS": "on"])
        }
        #expect(compact?.setting == "SPYGLASS_COMPACT_EVENTS")
        #expect(try ServerConfiguration.resolve(flags: ServeFlags(), environment: ["SPYGLASS_COMPACT_EVENTS": "0"]).compactEvents == false)
        for bad in ["0", "101", "2.5", "half"] {
            let share = #expect(throws: ConfigurationError.self) {
                try ServerConfiguration.resolve(flags: ServeFlags(), environment: ["SPYGLASS_LOG_SHARE_UNDER_LOAD": bad])
            }
            #expect(share?.setting == "SPYGLASS_LOG_SHARE_UNDER_LOAD")
        }
        let share = try ServerConfiguration.resolve(flags: ServeFlags(), environment: ["SPYGLASS_LOG_SHARE_UNDER_LOAD": "20"])
        #expect(share.logShareUnderLoad == 0.2)
    }

    @Test func connectionLimitsAndTheMetricsTokenComeFromTheEnvironment() throws {
        let defaults = try ServerConfiguration.resolve(flags: ServeFlags(), environment: [:])
        #expect(defaults.connections.headerTimeout == 30 && defaults.connections.idleTimeout == 75)
        #expect(defaults.connections.maxConnections >= 16 && defaults.metricsToken == nil)
        let set = try ServerConfiguration.resolve(
            flags: ServeFlags(),
            environment: [
                "SPYGLASS_HEADER_TIMEOUT": "2.5", "SPYGLASS_IDLE_TIMEOUT": "10", "SPYGLASS_MAX_CONNECTIONS": "20",
                "SPYGLASS_METRICS_TOKEN": "abc",
            ])
        #expect(set.connections.headerTimeout == 2.5 && set.connections.idleTimeout == 10)
        #expect(set.connections.maxConnections == 20 && set.metricsToken == "abc")
        for (name, value) in [
            ("SPYGLASS_HEADER_TIMEOUT", "0"), ("SPYGLASS_IDLE_TIMEOUT", "1e300"), ("SPYGLASS_MAX_CONNECTIONS", "-1"),
            ("SPYGLASS_METRICS_TOKEN", "two words"),
        ] {
            let error = #expect(throws: ConfigurationError.self) {
                try ServerConfiguration.resolve(flags: ServeFlags(), environment: [name: value])
            }
            #expect(error?.setting == name)
        }
    }
}
