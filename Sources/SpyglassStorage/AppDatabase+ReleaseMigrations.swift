import GRDB

extension AppDatabase {
    /// Releases, deploys, issue resolutions and ignore conditions, activity, project auto-resolve.
    static func registerReleaseMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4 releases and lifecycle") { db in
            try db.execute(
                sql: """
                    CREATE TABLE release (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        version TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 200),
                        created_at REAL NOT NULL,
                        date_released REAL,
                        first_event REAL,
                        last_event REAL,
                        new_issues INTEGER NOT NULL DEFAULT 0,
                        ref TEXT,
                        url TEXT,
                        UNIQUE (project_id, version)
                    ) STRICT;
                    CREATE INDEX release_project_created ON release(project_id, created_at);

                    CREATE TABLE release_environment (
                        release_id INTEGER NOT NULL REFERENCES release(id) ON DELETE CASCADE,
                        environment TEXT NOT NULL,
                        first_seen REAL NOT NULL,
                        last_seen REAL NOT NULL,
                        new_issues INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (release_id, environment)
                    ) STRICT, WITHOUT ROWID;

                    CREATE TABLE deploy (
                        id INTEGER PRIMARY KEY,
                        release_id INTEGER NOT NULL REFERENCES release(id) ON DELETE CASCADE,
                        environment TEXT NOT NULL,
                        name TEXT,
                        url TEXT,
                        date_started REAL,
                        date_finished REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX deploy_release ON deploy(release_id);

                    CREATE TABLE issue_activity (
                        id INTEGER PRIMARY KEY,
                        issue_id INTEGER NOT NULL REFERENCES issue(id) ON DELETE CASCADE,
                        type TEXT NOT NULL,
                        user_id INTEGER REFERENCES user(id) ON DELETE SET NULL,
                        data TEXT NOT NULL DEFAULT '{}',
                        created_at REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX issue_activity_issue ON issue_activity(issue_id, id);

                    ALTER TABLE issue ADD COLUMN resolution TEXT
                        CHECK (resolution IS NULL OR resolution IN ('now', 'in_next_release', 'in_release'));
                    ALTER TABLE issue ADD COLUMN resolution_release TEXT;
                    ALTER TABLE issue ADD COLUMN ignore_state TEXT;
                    ALTER TABLE issue ADD COLUMN substatus_since REAL;
                    UPDATE issue SET substatus_since = first_seen;
                    ALTER TABLE project ADD COLUMN resolve_age_hours INTEGER
                        CHECK (resolve_age_hours IS NULL OR resolve_age_hours > 0);
                    """)
        }
    }
}

extension AppDatabase {
    /// Commits per release and the repositories they name (`sentry-cli releases set-commits`).
    static func registerCommitMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9 release commits") { db in
            try db.execute(
                sql: """
                    CREATE TABLE repository (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
                        url TEXT,
                        provider TEXT NOT NULL,
                        created_at REAL NOT NULL
                    ) STRICT;
                    -- position 0 is the newest commit, as sent; files: JSON [{path, type}].
                    CREATE TABLE release_commit (
                        release_id INTEGER NOT NULL REFERENCES release(id) ON DELETE CASCADE,
                        position INTEGER NOT NULL,
                        sha TEXT NOT NULL CHECK (length(sha) BETWEEN 1 AND 64),
                        repository TEXT,
                        message TEXT,
                        author_name TEXT,
                        author_email TEXT,
                        committed_at REAL,
                        files TEXT NOT NULL,
                        PRIMARY KEY (release_id, position)
                    ) STRICT;
                    """)
        }
    }
}

extension AppDatabase {
    /// Source maps: the chunks sentry-cli uploads, and the artifact bundles assembled from them with their files.
    static func registerArtifactMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10 artifact bundles") { db in
            try db.execute(
                sql: """
                    -- Uploaded chunks by SHA-1, until assembled into a bundle (pruned after a day).
                    CREATE TABLE file_chunk (
                        checksum TEXT PRIMARY KEY CHECK (length(checksum) = 40),
                        data BLOB NOT NULL,
                        created_at REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX file_chunk_created ON file_chunk(created_at);
                    CREATE TABLE artifact_bundle (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        checksum TEXT NOT NULL CHECK (length(checksum) = 40),
                        release TEXT,
                        dist TEXT,
                        file_count INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        UNIQUE (project_id, checksum)
                    ) STRICT;
                    -- kind: minified_source, source_map, source or indexed_ram_bundle; release and dist as the bundle's.
                    CREATE TABLE artifact_file (
                        id INTEGER PRIMARY KEY,
                        bundle_id INTEGER NOT NULL REFERENCES artifact_bundle(id) ON DELETE CASCADE,
                        project_id INTEGER NOT NULL,
                        url TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        debug_id TEXT,
                        sourcemap TEXT,
                        release TEXT,
                        dist TEXT,
                        content BLOB NOT NULL
                    ) STRICT;
                    CREATE INDEX artifact_file_bundle ON artifact_file(bundle_id);
                    CREATE INDEX artifact_file_debug_id ON artifact_file(project_id, debug_id, kind) WHERE debug_id IS NOT NULL;
                    CREATE INDEX artifact_file_release ON artifact_file(project_id, release, url) WHERE release IS NOT NULL;
                    """)
        }
    }
}

extension AppDatabase {
    /// The identity of each issue's affected users (from the first event that named them): `user.email:` and the
    /// other `user.` searches.
    static func registerUserIdentityMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v11 user identities") { db in
            try db.execute(
                sql: """
                    ALTER TABLE issue_user ADD COLUMN user_id TEXT;
                    ALTER TABLE issue_user ADD COLUMN email TEXT;
                    ALTER TABLE issue_user ADD COLUMN username TEXT;
                    ALTER TABLE issue_user ADD COLUMN ip_address TEXT;
                    """)
        }
    }
}

extension AppDatabase {
    /// Each user's saved searches, one pinned per user and scope (a project, or every project: project_id NULL);
    /// API token scopes; each user's theme.
    static func registerSavedSearchMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v12 saved searches, token scopes, themes") { db in
            try db.execute(
                sql: """
                    CREATE TABLE saved_search (
                        id INTEGER PRIMARY KEY,
                        user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        project_id INTEGER REFERENCES project(id) ON DELETE CASCADE,
                        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
                        query TEXT NOT NULL,
                        pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
                        created_at REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX saved_search_user ON saved_search(user_id, project_id);
                    -- What a token may do; tokens made before scopes may do all their user may.
                    ALTER TABLE api_token ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('read', 'write', 'admin'));
                    -- The web UI's theme each user chose.
                    ALTER TABLE user ADD COLUMN theme TEXT NOT NULL DEFAULT 'auto' CHECK (theme IN ('auto', 'light', 'dark'));
                    """)
        }
    }
}

extension AppDatabase {
    /// How many events each affected user had in an issue: the issue page's list of users. Rows stored before
    /// stand for at least one event.
    static func registerUserCountMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v13 events per affected user") { db in
            try db.execute(sql: "ALTER TABLE issue_user ADD COLUMN times_seen INTEGER NOT NULL DEFAULT 1")
        }
    }
}

extension AppDatabase {
    /// The base URL the server serves under, recorded at each start: the CLI prints DSNs that point there.
    static func registerServedURLMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v14 served base URL") { db in
            try db.execute(sql: "ALTER TABLE instance ADD COLUMN base_url TEXT")
        }
    }
}
