import Foundation
import GRDB
import SpyglassCore

/// What the first start (or any later start) found or created.
public struct BootstrapReport: Sendable {
    /// The admin account created on this start, if one was.
    public var createdAdmin: User?
    /// The generated one-time password of `createdAdmin`, when none was configured.
    public var generatedPassword: String?
    /// Whether the `default` project was created on this start.
    public var createdProject: Bool
    /// The project whose DSN is shown at start: `default` if it exists, else the oldest one.
    public var project: ProjectWithKeys?
}

extension AppDatabase {
    /// Makes sure an admin account and a project exist; idempotent, so every start calls it.
    ///
    /// An admin is created when there is none (with `adminPassword`, else a generated one-time password);
    /// the `default` project when there is no project at all.
    public func bootstrap(adminEmail: String, adminPassword: String?, now: Date) throws -> BootstrapReport {
        let email = try EmailAddress.normalize(adminEmail)
        let needsAdmin = try writer.read { db in try User.filter(User.Columns.isAdmin == true).fetchCount(db) == 0 }
        // Hash before the write transaction: bcrypt takes tens of milliseconds.
        var password: (plain: String, hash: String, generated: Bool)?
        if needsAdmin {
            if let adminPassword { try Password.validate(adminPassword) }
            let plain = adminPassword ?? Password.generate()
            password = (plain, Password.hash(plain), adminPassword == nil)
        }
        return try writer.write { db in
            var report = BootstrapReport(createdProject: false)
            if let password, try User.filter(User.Columns.isAdmin == true).fetchCount(db) == 0 {
                if var existing = try User.filter(User.Columns.email == email).fetchOne(db) {
                    // The configured e-mail already has an account: promote it, keep its password.
                    existing.isAdmin = true
                    try existing.update(db)
                } else {
                    var admin = User(
                        email: email, passwordHash: password.hash, isAdmin: true, isActive: true,
                        mustChangePassword: password.generated, createdAt: now)
                    try admin.insert(db)
                    report.createdAdmin = admin
                    report.generatedPassword = password.generated ? password.plain : nil
                }
            }
            if try Project.fetchCount(db) == 0 {
                _ = try insertProject(
                    db, name: "Default", slug: "default", id: nil, publicKey: PublicKey.generate(), now: now)
                report.createdProject = true
            }
            let project =
                try Project.filter(Project.Columns.slug == "default").fetchOne(db)
                ?? Project.order(Project.Columns.id).fetchOne(db)
            if let project {
                let keys = try ProjectKey.filter(ProjectKey.Columns.projectId == project.id)
                    .filter(ProjectKey.Columns.isActive == true).order(Column("id")).fetchAll(db)
                report.project = ProjectWithKeys(project: project, keys: keys)
            }
            return report
        }
    }
}
