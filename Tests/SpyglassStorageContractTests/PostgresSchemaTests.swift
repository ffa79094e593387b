import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassPostgres
import Testing

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct PostgresSchemaTests {
    @Test func migrateCreatesEveryTableAndColumnOfTheSQLiteSchemaWithItsTypeAndNullability() async throws {
        try await withTestDatabase { database in
            #expect(try await database.migrate() == PostgresAppDatabase.migrations.map(\.version))
            let columns = try await database.withConnection { connection in
                var columns: [String: [String]] = [:]
                let rows = try await connection.query(
                    """
                    SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
                    FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position
                    """, logger: TestPostgres.logger)
                for try await (table, column, type, nullable) in rows.decode((String, String, String, String).self) {
                    columns[table, default: []].append("\(column) \(type)\(nullable == "NO" ? " not null" : "")")
                }
                return columns
            }
            var expected = Self.sqliteColumns
            expected["issue_search"] = Self.issueSearchColumns
            expected["schema_migrations"] = [
                "version bigint not null", "name text not null", "applied_at timestamp with time zone not null",
                "additive boolean not null",
            ]
            expected["rate_count"] = [
                "public_key text not null", "minute bigint not null", "node text not null", "count bigint not null",
            ]
            #expect(Set(columns.keys) == Set(expected.keys))
            for (table, expectedColumns) in expected {
                #expect(columns[table] == expectedColumns, "table \(table)")
            }
        }
    }

    @Test func migrateTwiceAppliesNothingTheSecondTime() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            #expect(try await database.migrate() == [])
            #expect(try await Self.appliedVersions(database) == PostgresAppDatabase.migrations.map(\.version))
        }
    }

    @Test func twoProcessesMigratingAtOnceApplyEachMigrationOnce() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { first in
                try await TestPostgres.withRunningDatabase(url) { second in
                    async let a = first.migrate()
                    async let b = second.migrate()
                    let (appliedByFirst, appliedBySecond) = try await (a, b)
                    #expect((appliedByFirst + appliedBySecond).sorted() == PostgresAppDatabase.migrations.map(\.version))
                    #expect(try await Self.appliedVersions(first) == PostgresAppDatabase.migrations.map(\.version))
                }
            }
        }
    }

    /// A rolling upgrade: a newer Spyglass's additive migrations (recorded as such) leave this one starting
    /// beside it; any other migration it does not know makes it refuse, changing nothing.
    @Test func aSchemaFromANewerSpyglassIsToleratedWhenAdditiveAndRefusedOtherwise() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            try await Self.execute(database, "INSERT INTO schema_migrations (version, name, additive) VALUES (998, 'next', true)")
            try await Self.execute(database, "ALTER TABLE event ADD COLUMN next_version_column TEXT")
            #expect(try await database.migrate() == [])
            try await Self.execute(database, "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
            await #expect {
                try await database.migrate()
            } throws: { error in
                (error as? DomainError)?.message.contains("migration 999") == true
            }
        }
    }

    /// What a node admitted per key and minute reaches the other nodes, not itself; older minutes are dropped.
    @Test func rateCountsAreExchangedBetweenNodes() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            let exchange = PostgresRateCounts(database)
            #expect(try await exchange.exchangeRateCounts(node: "a", minute: 100, counts: ["k": 3, "j": 1]) == [:])
            #expect(try await exchange.exchangeRateCounts(node: "b", minute: 100, counts: ["k": 2]) == ["k": 3, "j": 1])
            #expect(try await exchange.exchangeRateCounts(node: "c", minute: 100, counts: [:]) == ["k": 5, "j": 1])
            #expect(try await exchange.exchangeRateCounts(node: "a", minute: 100, counts: ["k": 4, "j": 1]) == ["k": 2])
            #expect(try await exchange.exchangeRateCounts(node: "b", minute: 100, counts: ["k": 2]) == ["k": 4, "j": 1])
            #expect(try await exchange.exchangeRateCounts(node: "a", minute: 102, counts: ["k": 1]) == [:])
            #expect(try await Self.integer(database, "SELECT count(*) FROM rate_count") == 1)
        }
    }

    @Test func checkConstraintsHold() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            try await Self.execute(
                database,
                "INSERT INTO project (slug, name, created_at) VALUES ('web', 'Web', '2024-01-01 00:00:00.000')")
            let refused = [
                "INSERT INTO project_key (project_id, public_key, label, created_at) VALUES (1, '0123456789ABCDEF0123456789abcdef', 'upper case', 'x')",
                "INSERT INTO project_key (project_id, public_key, label, created_at) VALUES (1, '0123456789abcdef', 'short', 'x')",
                "INSERT INTO \"user\" (email, password_hash, created_at) VALUES ('Admin@Example.com', 'h', 'x')",
                "INSERT INTO \"user\" (email, password_hash, is_admin, created_at) VALUES ('a@example.com', 'h', 2, 'x')",
                "INSERT INTO project (slug, name, created_at) VALUES ('', 'Empty slug', 'x')",
                "INSERT INTO project (id, slug, name, created_at) VALUES (0, 'zero', 'Zero', 'x')",
                "INSERT INTO instance (id, created_at) VALUES (2, 'x')",
                "INSERT INTO project_member (project_id, user_id, role, created_at) VALUES (1, 42, 'admin', 'x')",
                """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, first_seen, last_seen)
                VALUES (1, 1, 't', 'c', 'error', '{}', 'error', 'open', 0, 0)
                """,
            ]
            for sql in refused {
                await #expect(throws: PSQLError.self, "\(sql)") { try await Self.execute(database, sql) }
            }
            try await Self.execute(
                database,
                "INSERT INTO project_key (project_id, public_key, label, created_at) VALUES (1, '0123456789abcdef0123456789abcdef', 'ok', 'x')"
            )
        }
    }

    /// Log lines have no foreign key to their project (its check ran once per line stored), so a trigger deletes a
    /// deleted project's lines in its stead; the other projects' lines stay.
    @Test func deletingAProjectDeletesItsLogLinesAndOnlyThem() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            #expect(
                try await Self.integer(
                    database, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'log_entry'::regclass AND contype = 'f'")
                    == 0)
            try await Self.execute(
                database,
                """
                INSERT INTO project (id, slug, name, created_at) VALUES (1, 'web', 'Web', 'x'), (2, 'api', 'API', 'x')
                """)
            for project in [1, 1, 2] {
                try await Self.execute(
                    database,
                    """
                    INSERT INTO log_entry (project_id, timestamp, received, severity, body, attributes, size)
                    VALUES (\(project), 1, 1, 9, 'line', '{}', 68)
                    """)
            }
            try await Self.execute(database, "DELETE FROM project WHERE id = 1")
            #expect(try await Self.integer(database, "SELECT count(*) FROM log_entry WHERE project_id = 1") == 0)
            #expect(try await Self.integer(database, "SELECT count(*) FROM log_entry WHERE project_id = 2") == 1)
        }
    }

    /// Events and tag counts have no foreign keys (their checks ran once per row the ingest writer inserted), so
    /// triggers delete a deleted issue's events and tag counts, and a deleted project's events, in their stead; the
    /// other issues' and projects' rows stay.
    @Test func deletingAnIssueOrAProjectDeletesItsEventsAndTagCountsAndOnlyThem() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            let keys = """
                SELECT count(*) FROM pg_constraint
                WHERE conrelid IN ('event'::regclass, 'issue_tag'::regclass) AND contype = 'f'
                """
            #expect(try await Self.integer(database, keys) == 0)
            try await Self.execute(
                database,
                """
                INSERT INTO project (id, slug, name, created_at) VALUES (1, 'web', 'Web', 'x'), (2, 'api', 'API', 'x')
                """)
            for (issue, project) in [(1, 1), (2, 1), (3, 2)] {
                try await Self.execute(
                    database,
                    """
                    INSERT INTO issue (id, project_id, short_id, title, culprit, type, metadata, level, first_seen,
                        last_seen)
                    VALUES (\(issue), \(project), \(issue), 't', 'c', 'error', '{}', 'error', 0, 0)
                    """)
                try await Self.execute(
                    database,
                    """
                    INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen)
                    VALUES (\(issue), 'os', 'Linux', 2, 0, 0), (\(issue), 'level', 'error', 2, 0, 0)
                    """)
            }
            // Two events per issue, and one of project 1 without an issue (as rows older than issues were).
            let events = [(1, "1"), (1, "1"), (1, "2"), (1, "2"), (2, "3"), (2, "3"), (1, "NULL")]
            for (number, (project, issue)) in events.enumerated() {
                try await Self.execute(
                    database,
                    """
                    INSERT INTO event (project_id, event_id, timestamp, received, level, platform, payload, issue_id)
                    VALUES (
                        \(project), '\(String(format: "%032x", number))', 0, 0, 'error', 'python', '\\x00', \(issue))
                    """)
            }
            let stored = "SELECT count(*) FROM event WHERE "
            try await Self.execute(database, "DELETE FROM issue WHERE id = 1")
            #expect(try await Self.integer(database, stored + "issue_id = 1") == 0)
            #expect(try await Self.integer(database, stored + "issue_id = 2") == 2)
            #expect(try await Self.integer(database, "SELECT count(*) FROM issue_tag WHERE issue_id = 1") == 0)
            #expect(try await Self.integer(database, "SELECT count(*) FROM issue_tag WHERE issue_id = 2") == 2)
            try await Self.execute(database, "DELETE FROM project WHERE id = 1")
            #expect(try await Self.integer(database, stored + "project_id = 1") == 0)
            #expect(try await Self.integer(database, "SELECT count(*) FROM issue_tag WHERE issue_id = 2") == 0)
            #expect(try await Self.integer(database, stored + "project_id = 2") == 2)
            #expect(try await Self.integer(database, "SELECT count(*) FROM issue_tag WHERE issue_id = 3") == 2)
        }
    }

    @Test func keyChangesMoveKeysVersionOnAndDeletingAnIssueEmptiesItsSearchRow() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            try await Self.execute(database, "INSERT INTO project (slug, name, created_at) VALUES ('web', 'Web', 'x')")
            try await Self.execute(
                database,
                "INSERT INTO project_key (project_id, public_key, label, created_at) VALUES (1, '0123456789abcdef0123456789abcdef', 'k', 'x')"
            )
            try await Self.execute(database, "UPDATE project_key SET is_active = 0")
            try await Self.execute(database, "DELETE FROM project_key")
            #expect(try await Self.integer(database, "SELECT keys_version FROM instance") == 3)

            try await Self.execute(
                database,
                """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, first_seen, last_seen)
                VALUES (1, 1, 'TypeError: foo.bar is undefined', 'handle_request', 'error', '{}', 'error', 0, 0)
                """)
            try await Self.execute(
                database,
                "INSERT INTO issue_search (issue_id, title, culprit, message) SELECT id, title, culprit, 'Crème' FROM issue"
            )
            let search = "SELECT count(*) FROM issue_search WHERE document @@ to_tsquery('simple', "
            #expect(try await Self.integer(database, search + "'foo & bar')") == 1)
            #expect(try await Self.integer(database, search + "'typeerror')") == 1)
            #expect(try await Self.integer(database, search + "'requ:*')") == 1)
            #expect(try await Self.integer(database, search + "'crème')") == 1)
            try await Self.execute(database, "DELETE FROM issue")
            #expect(try await Self.integer(database, "SELECT count(*) FROM issue_search") == 0)
        }
    }

    @Test func resetIdentitiesLetsTheNextRowWithoutAnIDFollowCopiedIDs() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            try await Self.execute(
                database,
                "INSERT INTO project (id, slug, name, created_at) VALUES (1, 'a', 'A', 'x'), (7, 'b', 'B', 'x')")
            try await Self.execute(
                database,
                "INSERT INTO \"user\" (id, email, password_hash, created_at) VALUES (41, 'a@example.com', 'h', 'x')")
            await #expect(throws: PSQLError.self) {
                try await Self.execute(database, "INSERT INTO project (slug, name, created_at) VALUES ('c', 'C', 'x')")
            }
            try await database.resetIdentities()
            try await Self.execute(database, "INSERT INTO project (slug, name, created_at) VALUES ('c', 'C', 'x')")
            try await Self.execute(
                database, "INSERT INTO \"user\" (email, password_hash, created_at) VALUES ('b@example.com', 'h', 'x')")
            try await Self.execute(
                database,
                "INSERT INTO event (project_id, event_id, timestamp, received, level, platform, payload) VALUES (1, repeat('a', 32), 0, 0, 'error', 'swift', '\\x00')"
            )
            #expect(try await Self.integer(database, "SELECT max(id) FROM project") == 8)
            #expect(try await Self.integer(database, "SELECT max(id) FROM \"user\"") == 42)
            #expect(try await Self.integer(database, "SELECT max(id) FROM event") == 1)
        }
    }

    @Test func aTransactionIsRolledBackWhenItsBodyThrowsAndTheErrorIsRethrownAsItIs() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            await #expect(throws: DomainError(.conflict, "changed my mind")) {
                try await database.withTransaction { connection in
                    try await connection.query(
                        "INSERT INTO project (slug, name, created_at) VALUES ('web', 'Web', 'x')",
                        logger: TestPostgres.logger)
                    throw DomainError(.conflict, "changed my mind")
                }
            }
            #expect(try await Self.integer(database, "SELECT count(*) FROM project") == 0)
            try await database.withTransaction { connection in
                try await connection.query(
                    "INSERT INTO project (slug, name, created_at) VALUES ('web', 'Web', 'x')",
                    logger: TestPostgres.logger)
            }
            #expect(try await Self.integer(database, "SELECT count(*) FROM project") == 1)
        }
    }

    // MARK: Helpers

    static func execute(_ database: PostgresAppDatabase, _ sql: String) async throws {
        try await database.withConnection {
            try await $0.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger)
        }
    }

    static func integer(_ database: PostgresAppDatabase, _ sql: String) async throws -> Int? {
        try await database.withConnection { connection in
            for try await value in try await connection.query(
                PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger
            )
            .decode(Int?.self) {
                return value
            }
            return nil
        }
    }

    static func appliedVersions(_ database: PostgresAppDatabase) async throws -> [Int] {
        try await database.withConnection { connection in
            var versions: [Int] = []
            for try await version in try await connection.query(
                "SELECT version FROM schema_migrations ORDER BY version", logger: TestPostgres.logger
            ).decode(Int.self) {
                versions.append(version)
            }
            return versions
        }
    }

    /// The search table's columns: SQLite's FTS5 columns, the issue id for the rowid, and the generated document.
    static let issueSearchColumns = [
        "issue_id bigint not null", "title text not null", "culprit text not null", "message text not null",
        "document tsvector",
    ]

    /// Every column of SQLite's schema (.schema of a database after migrations v1–v8), in order, with its type
    /// mapped (INTEGER → bigint, TEXT → text, REAL → double precision, BLOB → bytea) and NOT NULL; generated from
    /// that schema, so a column missing, renamed, retyped or made nullable in PostgreSQL fails the test above.
    static let sqliteColumns: [String: [String]] = [
        "repository": [
            "id bigint not null", "name text not null", "url text", "provider text not null",
            "created_at double precision not null",
        ],
        "release_commit": [
            "release_id bigint not null", "position bigint not null", "sha text not null", "repository text", "message text",
            "author_name text", "author_email text", "committed_at double precision", "files text not null",
        ],
        "saved_search": [
            "id bigint not null", "user_id bigint not null", "project_id bigint", "name text not null", "query text not null",
            "pinned bigint not null", "created_at double precision not null",
        ],
        "file_chunk": ["checksum text not null", "data bytea not null", "created_at double precision not null"],
        "artifact_bundle": [
            "id bigint not null", "project_id bigint not null", "checksum text not null", "release text", "dist text",
            "file_count bigint not null", "created_at double precision not null",
        ],
        "artifact_file": [
            "id bigint not null", "bundle_id bigint not null", "project_id bigint not null", "url text not null",
            "kind text not null", "debug_id text", "sourcemap text", "release text", "dist text", "content bytea not null",
        ],
        "alert_rule": [
            "id bigint not null",
            "project_id bigint not null",
            "name text not null",
            "enabled bigint not null",
            "spec text not null",
            "frequency_minutes bigint not null",
            "on_new bigint not null",
            "on_regression bigint not null",
            "on_reappeared bigint not null",
            "counts_events bigint not null",
            "counts_users bigint not null",
            "created_at double precision not null",
            "updated_at double precision not null",
        ],
        "alert_rule_issue": [
            "rule_id bigint not null",
            "issue_id bigint not null",
            "trigger text not null",
            "last_fired double precision not null",
        ],
        "api_token": [
            "id bigint not null",
            "user_id bigint not null",
            "name text not null",
            "token_hash text not null",
            "created_at text not null",
            "last_used_at text",
            "scope text not null",
        ],
        "attachment": [
            "id bigint not null",
            "project_id bigint not null",
            "event_id text not null",
            "filename text not null",
            "content_type text not null",
            "attachment_type text not null",
            "size bigint not null",
            "data bytea not null",
            "received double precision not null",
        ],
        "deploy": [
            "id bigint not null",
            "release_id bigint not null",
            "environment text not null",
            "name text",
            "url text",
            "date_started double precision",
            "date_finished double precision not null",
        ],
        "log_entry": [
            "id bigint not null", "project_id bigint not null", "timestamp double precision not null",
            "received double precision not null", "severity bigint not null", "body text not null", "template text",
            "trace_id text", "span_id text", "release text", "environment text", "sdk text", "attributes text not null",
            "size bigint not null",
        ],
        "discarded_events": [
            "project_id bigint not null",
            "reason text not null",
            "category text not null",
            "quantity bigint not null",
        ],
        "event": [
            "id bigint not null",
            "project_id bigint not null",
            "event_id text not null",
            "timestamp double precision not null",
            "received double precision not null",
            "level text not null",
            "platform text not null",
            "release text",
            "environment text",
            "payload bytea not null",
            "payload_raw bigint not null",
            "sent_at double precision",
            "client_ip text",
            "issue_id bigint",
            "primary_hash text",
            "pinned bigint not null",
        ],
        "grouping_hash": [
            "project_id bigint not null",
            "hash text not null",
            "config text not null",
            "issue_id bigint not null",
            "dictionary_id bigint",
        ],
        "instance": [
            "id bigint not null",
            "created_at text not null",
            "ready_checked_at text",
            "keys_version bigint not null",
            "base_url text",
        ],
        "issue": [
            "id bigint not null",
            "project_id bigint not null",
            "short_id bigint not null",
            "title text not null",
            "culprit text not null",
            "type text not null",
            "metadata text not null",
            "level text not null",
            "status text not null",
            "substatus text",
            "first_seen double precision not null",
            "last_seen double precision not null",
            "times_seen bigint not null",
            "user_count bigint not null",
            "first_release text",
            "last_release text",
            "assignee_id bigint",
            "status_changed_at double precision",
            "first_event_id bigint",
            "last_event_id bigint",
            "resolution text",
            "resolution_release text",
            "ignore_state text",
            "substatus_since double precision",
        ],
        "issue_activity": [
            "id bigint not null",
            "issue_id bigint not null",
            "type text not null",
            "user_id bigint",
            "data text not null",
            "created_at double precision not null",
        ],
        "issue_hour": [
            "issue_id bigint not null",
            "hour bigint not null",
            "count bigint not null",
        ],
        "issue_minute": [
            "issue_id bigint not null",
            "minute bigint not null",
            "count bigint not null",
        ],
        "issue_tag": [
            "issue_id bigint not null",
            "key text not null",
            "value text not null",
            "times_seen bigint not null",
            "first_seen double precision not null",
            "last_seen double precision not null",
        ],
        "issue_user": [
            "issue_id bigint not null",
            "user_key text not null",
            "last_seen double precision",
            "user_id text",
            "email text",
            "username text",
            "ip_address text",
            "times_seen bigint not null",
        ],
        "notification": [
            "id bigint not null",
            "project_id bigint not null",
            "rule_id bigint",
            "rule_name text not null",
            "issue_id bigint",
            "trigger text not null",
            "channel text not null",
            "target text not null",
            "action text not null",
            "content text not null",
            "status text not null",
            "attempts bigint not null",
            "created_at double precision not null",
            "next_attempt double precision",
            "delivered_at double precision",
            "last_error text",
        ],
        "notification_attempt": [
            "id bigint not null",
            "notification_id bigint not null",
            "at double precision not null",
            "outcome text not null",
            "detail text not null",
        ],
        "payload_dictionary": [
            "id bigint not null",
            "project_id bigint not null",
            "data bytea not null",
        ],
        "project": [
            "id bigint not null",
            "slug text not null",
            "name text not null",
            "created_at text not null",
            "next_short_id bigint not null",
            "resolve_age_hours bigint",
            "retention_days bigint",
            "log_retention_days bigint",
            "log_max_bytes bigint",
        ],
        "project_key": [
            "id bigint not null",
            "project_id bigint not null",
            "public_key text not null",
            "label text not null",
            "is_active bigint not null",
            "created_at text not null",
            "rate_limit_per_minute bigint",
        ],
        "project_member": [
            "project_id bigint not null",
            "user_id bigint not null",
            "role text not null",
            "created_at text not null",
        ],
        "release": [
            "id bigint not null",
            "project_id bigint not null",
            "version text not null",
            "created_at double precision not null",
            "date_released double precision",
            "first_event double precision",
            "last_event double precision",
            "new_issues bigint not null",
            "ref text",
            "url text",
        ],
        "release_environment": [
            "release_id bigint not null",
            "environment text not null",
            "first_seen double precision not null",
            "last_seen double precision not null",
            "new_issues bigint not null",
        ],
        "release_sessions": [
            "project_id bigint not null",
            "release text not null",
            "environment text not null",
            "started bigint not null",
            "exited bigint not null",
            "errored bigint not null",
            "crashed bigint not null",
            "abnormal bigint not null",
        ],
        "user": [
            "id bigint not null",
            "email text not null",
            "password_hash text not null",
            "is_admin bigint not null",
            "is_active bigint not null",
            "must_change_password bigint not null",
            "created_at text not null",
            "theme text not null",
        ],
        "user_report": [
            "id bigint not null",
            "project_id bigint not null",
            "event_id text",
            "name text not null",
            "email text not null",
            "comments text not null",
            "received double precision not null",
        ],
        "web_session": [
            "token_hash text not null",
            "user_id bigint not null",
            "csrf_token text not null",
            "created_at double precision not null",
            "expires_at double precision not null",
        ],
    ]
}
