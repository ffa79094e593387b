import SpyglassCore
import Testing

struct AuthorizationTests {
    /// The table as docs/authorization.md shows it: per action, the answer for anonymous, a member of another
    /// project, a member, a project admin and a server admin (A allowed, 401, 404, 403).
    static let table: [Action: [String]] = [
        .useAccount: ["401", "A", "A", "A", "A"],
        .manageServer: ["401", "404", "404", "404", "A"],
        .readProject: ["401", "404", "A", "A", "A"],
        .readIssues: ["401", "404", "A", "A", "A"],
        .readEvents: ["401", "404", "A", "A", "A"],
        .triageIssues: ["401", "404", "A", "A", "A"],
        .deleteIssues: ["401", "404", "403", "A", "A"],
        .readReleases: ["401", "404", "A", "A", "A"],
        .manageReleases: ["401", "404", "A", "A", "A"],
        .readAlertRules: ["401", "404", "A", "A", "A"],
        .manageAlertRules: ["401", "404", "403", "A", "A"],
        .manageProjectSettings: ["401", "404", "403", "A", "A"],
    ]

    static func code(_ decision: Decision) -> String {
        switch decision {
        case .allowed: "A"
        case .unauthenticated: "401"
        case .notFound: "404"
        case .forbidden: "403"
        }
    }

    @Test(arguments: Action.allCases)
    func eachActionIsDecidedForEachRoleAsTheDocumentedTableSays(_ action: Action) throws {
        let expected = try #require(Self.table[action], "\(action) is missing from the table")
        #expect(Role.allCases.map { Self.code(Authorization.decide(action, for: $0)) } == expected, "\(action)")
    }

    @Test func serverAdminsMayDoEverythingAndAnonymousNothing() {
        for action in Action.allCases {
            #expect(Authorization.allows(action, for: .serverAdmin))
            #expect(Authorization.decide(action, for: .anonymous) == .unauthenticated)
        }
    }

    @Test func aRoleMayDoAtLeastWhatTheRolesBelowItMayDo() {
        for action in Action.allCases {
            let allowed = Role.allCases.map { Authorization.allows(action, for: $0) }
            #expect(allowed == allowed.sorted { !$0 && $1 }, "\(action): \(allowed)")
        }
    }

    @Test func actionsNotAboutAProjectDoNotDependOnProjectRoles() {
        for action in Action.allCases where !action.isAboutAProject {
            let answers = Set([Role.otherProjectMember, .member, .projectAdmin].map { Authorization.decide(action, for: $0) })
            #expect(answers.count == 1, "\(action)")
        }
    }

    @Test func theViewersRoleComesFromItsMembershipsAndServerAdminsHaveEveryProject() {
        let plain = Viewer(user: APIUser(id: 1, email: "a@example.com", isAdmin: false), memberships: [1: .member, 2: .admin])
        #expect(plain.role(in: 1) == .member && plain.role(in: 2) == .projectAdmin && plain.role(in: 3) == .otherProjectMember)
        #expect(plain.may(.triageIssues, in: 1) && !plain.may(.manageAlertRules, in: 1) && plain.may(.manageAlertRules, in: 2))
        #expect(plain.decide(.readIssues, in: 3) == .notFound)
        #expect(plain.decide(.manageAlertRules, in: 1) == .forbidden)
        let admin = Viewer(user: APIUser(id: 2, email: "b@example.com", isAdmin: true), memberships: [:])
        #expect(admin.role(in: 7) == .serverAdmin && admin.may(.manageProjectSettings, in: 7))
        #expect(admin.decide(.manageServer) == .allowed && plain.decide(.manageServer) == .notFound)
    }
}
