import Foundation
import GRDB
import SpyglassCore

extension AppDatabase {
    /// Browser sessions of the web UI.
    static func registerWebMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6 web sessions") { db in
            try db.execute(
                sql: """
                    -- token_hash: SHA-256 (hex) of the cookie value; the cookie itself is never stored.
                    CREATE TABLE web_session (
                        token_hash TEXT PRIMARY KEY,
                        user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        csrf_token TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX web_session_expiry ON web_session(expires_at);
                    """)
        }
        migrator.registerMigration("v7 project retention") { db in
            // Days a project keeps events when that is less than the server's retention (NULL: the server's).
            try db.execute(
                sql: "ALTER TABLE project ADD COLUMN retention_days INTEGER CHECK (retention_days IS NULL OR retention_days > 0)")
        }
    }
}
