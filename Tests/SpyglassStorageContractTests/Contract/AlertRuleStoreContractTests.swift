import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import Testing

extension TestStore {
    /// The ``AlertRuleStore`` of this backend.
    var alertRules: any AlertRuleStore {
        switch database {
        case .sqlite(let database): SQLiteAlertRules(database)
        case .postgres(let database): PostgresAlertRules(database)
        }
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct AlertRuleStoreContractTests {
    static let frequent = AlertRule(
        name: "Busy issues", enabled: false, actionMatch: .all, filterMatch: .any, frequencyMinutes: 5,
        environment: "production",
        conditions: [
            .eventFrequency(count: 100, interval: .oneHour), .uniqueUserFrequency(count: 10, interval: .oneDay),
        ],
        filters: [.level(.gte, "error"), .tag(key: "region", value: "eu")],
        actions: [.email(.addresses(["ops@example.com"])), .slack(url: "https://hooks.slack.com/services/T/B/X")])

    @Test(arguments: Backend.allCases)
    func aRuleReadsBackAsItWasStored(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let id = try await store.alertRules.createAlertRule(
                Self.frequent, projectID: shop.id, now: store.now.addingTimeInterval(5))
            var expected = Self.frequent
            expected.id = id
            expected.created = store.now.addingTimeInterval(5)
            #expect(try await store.alertRules.alertRule(id: id, projectID: shop.id) == expected)
            // The flag columns the writer selects rules by follow the conditions.
            let flags = try await store.strings(
                """
                SELECT on_new || ',' || on_regression || ',' || on_reappeared || ',' || counts_events || ',' || counts_users
                    || ',' || enabled FROM alert_rule WHERE id = ?
                """, [.int(id)])
            #expect(flags == ["0,0,0,1,1,0"])
        }
    }

    @Test(arguments: Backend.allCases)
    func rulesAreCreatedUpdatedAndDeletedWithinTheirProjectOnly(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let rules = store.alertRules
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            let id = try await rules.createAlertRule(Self.frequent, projectID: shop.id, now: store.now)
            #expect(
                try await rules.alertRules(projectID: shop.id).map(\.name) == [AlertRule.defaultName, "Busy issues"])
            #expect(try await rules.alertRules(projectID: blog.id).map(\.name) == [AlertRule.defaultName])
            #expect(try await rules.alertRule(id: id, projectID: blog.id) == nil)

            var changed = AlertRule(
                name: "Regressions", conditions: [.regression], actions: [.discord(url: "https://discord.example/x")])
            #expect(try await !rules.updateAlertRule(changed, id: id, projectID: blog.id, now: store.now))
            #expect(try await rules.alertRule(id: id, projectID: shop.id)?.name == "Busy issues")
            #expect(
                try await rules.updateAlertRule(
                    changed, id: id, projectID: shop.id, now: store.now.addingTimeInterval(60)))
            changed.id = id
            changed.created = store.now
            #expect(try await rules.alertRule(id: id, projectID: shop.id) == changed)
            #expect(try await !rules.updateAlertRule(changed, id: 999, projectID: shop.id, now: store.now))

            #expect(try await !rules.deleteAlertRule(id: id, projectID: blog.id))
            #expect(try await rules.deleteAlertRule(id: id, projectID: shop.id))
            #expect(try await !rules.deleteAlertRule(id: id, projectID: shop.id))
            #expect(try await rules.alertRules(projectID: shop.id).map(\.name) == [AlertRule.defaultName])
        }
    }

    @Test(arguments: Backend.allCases)
    func aRuleWhoseStoredJSONNoLongerReadsIsLeftOut(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let id = try await store.alertRules.createAlertRule(Self.frequent, projectID: shop.id, now: store.now)
            try await store.execute("UPDATE alert_rule SET spec = '{\"name\": 1}' WHERE id = ?", [.int(id)])
            #expect(try await store.alertRules.alertRules(projectID: shop.id).map(\.name) == [AlertRule.defaultName])
            #expect(try await store.alertRules.alertRule(id: id, projectID: shop.id) == nil)
        }
    }
}
