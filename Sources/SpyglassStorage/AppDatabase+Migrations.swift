import GRDB

extension AppDatabase {
    /// The schema's history. Shipped migrations are frozen: never edit one, add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 accounts and projects") { db in
            try db.execute(
                sql: """
                    CREATE TABLE instance (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        created_at TEXT NOT NULL,
                        ready_checked_at TEXT
                    ) STRICT;
                    INSERT INTO instance (id, created_at) VALUES (1, strftime('%Y-%m-%d %H:%M:%f', 'now'));

                    CREATE TABLE user (
                        id INTEGER PRIMARY KEY,
                        email TEXT NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
                        password_hash TEXT NOT NULL,
                        is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
                        is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
                        must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
                        created_at TEXT NOT NULL
                    ) STRICT;

                    CREATE TABLE project (
                        id INTEGER PRIMARY KEY CHECK (id > 0),
                        slug TEXT NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 50),
                        name TEXT NOT NULL CHECK (length(name) > 0),
                        created_at TEXT NOT NULL
                    ) STRICT;

                    CREATE TABLE project_member (
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
                        created_at TEXT NOT NULL,
                        PRIMARY KEY (project_id, user_id)
                    ) STRICT, WITHOUT ROWID;
                    CREATE INDEX project_member_user ON project_member(user_id);

                    CREATE TABLE project_key (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        public_key TEXT NOT NULL UNIQUE
                            CHECK (length(public_key) = 32 AND public_key NOT GLOB '*[^0-9a-f]*'),
                        label TEXT NOT NULL,
                        is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
                        created_at TEXT NOT NULL
                    ) STRICT;
                    CREATE INDEX project_key_project ON project_key(project_id);

                    CREATE TABLE api_token (
                        id INTEGER PRIMARY KEY,
                        user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
                        created_at TEXT NOT NULL,
                        last_used_at TEXT
                    ) STRICT;
                    CREATE INDEX api_token_user ON api_token(user_id);
                    """)
        }
        registerIngestMigrations(&migrator)
        registerIssueMigrations(&migrator)
        registerReleaseMigrations(&migrator)
        registerAlertMigrations(&migrator)
        registerWebMigrations(&migrator)
        registerPayloadMigrations(&migrator)
        registerCommitMigrations(&migrator)
        registerArtifactMigrations(&migrator)
        registerUserIdentityMigrations(&migrator)
        registerSavedSearchMigrations(&migrator)
        registerUserCountMigrations(&migrator)
        registerServedURLMigrations(&migrator)
        registerLogMigrations(&migrator)
        return migrator
    }
}

extension AppDatabase {
    /// Ingest: events, attachments, user reports, session and discarded-event counters, key versioning.
    static func registerIngestMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2 ingest") { db in
            try db.execute(
                sql: """
                    ALTER TABLE instance ADD COLUMN keys_version INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE project_key ADD COLUMN rate_limit_per_minute INTEGER
                        CHECK (rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0);
                    CREATE TRIGGER project_key_inserted AFTER INSERT ON project_key
                        BEGIN UPDATE instance SET keys_version = keys_version + 1; END;
                    CREATE TRIGGER project_key_updated AFTER UPDATE ON project_key
                        BEGIN UPDATE instance SET keys_version = keys_version + 1; END;
                    CREATE TRIGGER project_key_deleted AFTER DELETE ON project_key
                        BEGIN UPDATE instance SET keys_version = keys_version + 1; END;

                    CREATE TABLE event (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        event_id TEXT NOT NULL CHECK (length(event_id) = 32),
                        timestamp REAL NOT NULL,
                        received REAL NOT NULL,
                        level TEXT NOT NULL,
                        platform TEXT NOT NULL,
                        release TEXT,
                        environment TEXT,
                        -- The payload as sent (payload_raw = 1; normalized again when read, with sent_at and
                        -- client_ip) or already normalized (0); zlib-compressed either way.
                        payload BLOB NOT NULL,
                        payload_raw INTEGER NOT NULL DEFAULT 0 CHECK (payload_raw IN (0, 1)),
                        sent_at REAL,
                        client_ip TEXT,
                        UNIQUE (project_id, event_id)
                    ) STRICT;

                    CREATE TABLE attachment (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        event_id TEXT NOT NULL CHECK (length(event_id) = 32),
                        filename TEXT NOT NULL,
                        content_type TEXT NOT NULL,
                        attachment_type TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        data BLOB NOT NULL,
                        received REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX attachment_event ON attachment(project_id, event_id);

                    CREATE TABLE user_report (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        event_id TEXT CHECK (event_id IS NULL OR length(event_id) = 32),
                        name TEXT NOT NULL,
                        email TEXT NOT NULL,
                        comments TEXT NOT NULL,
                        received REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX user_report_event ON user_report(project_id, event_id);

                    CREATE TABLE release_sessions (
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        release TEXT NOT NULL,
                        environment TEXT NOT NULL,
                        started INTEGER NOT NULL DEFAULT 0,
                        exited INTEGER NOT NULL DEFAULT 0,
                        errored INTEGER NOT NULL DEFAULT 0,
                        crashed INTEGER NOT NULL DEFAULT 0,
                        abnormal INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (project_id, release, environment)
                    ) STRICT, WITHOUT ROWID;

                    CREATE TABLE discarded_events (
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        reason TEXT NOT NULL,
                        category TEXT NOT NULL,
                        quantity INTEGER NOT NULL,
                        PRIMARY KEY (project_id, reason, category)
                    ) STRICT, WITHOUT ROWID;
                    """)
        }
    }
}

extension AppDatabase {
    /// Payload dictionaries (``PayloadDictionary``): what the events of a grouping hash share, stored once.
    static func registerPayloadMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8 payload dictionaries") { db in
            try db.execute(
                sql: """
                    -- data: the payload of the hash's first stored event, as a blob of the event table (its body as
                    -- received, or zlib-compressed). AUTOINCREMENT: an id is
                    -- never given to another dictionary, so a request compressing against a cached id cannot meet
                    -- other bytes under it.
                    CREATE TABLE payload_dictionary (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        data BLOB NOT NULL
                    ) STRICT;
                    -- Set once, with the dictionary's row; NULL for hashes stored before (their next event makes one).
                    ALTER TABLE grouping_hash ADD COLUMN dictionary_id INTEGER;
                    """)
        }
    }
}
