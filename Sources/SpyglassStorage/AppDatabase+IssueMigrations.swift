import GRDB

extension AppDatabase {
    /// Issues: grouping hashes, per-issue counters, users, tags, hourly counts, environments, releases, search.
    static func registerIssueMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3 issues") { db in
            try db.execute(
                sql: """
                    ALTER TABLE project ADD COLUMN next_short_id INTEGER NOT NULL DEFAULT 1;

                    CREATE TABLE issue (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        short_id INTEGER NOT NULL,
                        title TEXT NOT NULL,
                        culprit TEXT NOT NULL,
                        type TEXT NOT NULL,
                        metadata TEXT NOT NULL,
                        level TEXT NOT NULL,
                        status TEXT NOT NULL DEFAULT 'unresolved' CHECK (status IN ('unresolved', 'resolved', 'ignored')),
                        substatus TEXT,
                        first_seen REAL NOT NULL,
                        last_seen REAL NOT NULL,
                        times_seen INTEGER NOT NULL DEFAULT 0,
                        user_count INTEGER NOT NULL DEFAULT 0,
                        first_release TEXT,
                        last_release TEXT,
                        assignee_id INTEGER REFERENCES user(id) ON DELETE SET NULL,
                        status_changed_at REAL,
                        first_event_id INTEGER,
                        last_event_id INTEGER,
                        UNIQUE (project_id, short_id)
                    ) STRICT;
                    CREATE INDEX issue_project_last_seen ON issue(project_id, last_seen);
                    CREATE INDEX issue_project_first_seen ON issue(project_id, first_seen);

                    CREATE TABLE grouping_hash (
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        hash TEXT NOT NULL,
                        config TEXT NOT NULL,
                        issue_id INTEGER NOT NULL REFERENCES issue(id) ON DELETE CASCADE,
                        PRIMARY KEY (project_id, hash)
                    ) STRICT, WITHOUT ROWID;
                    CREATE INDEX grouping_hash_issue ON grouping_hash(issue_id);

                    ALTER TABLE event ADD COLUMN issue_id INTEGER REFERENCES issue(id) ON DELETE CASCADE;
                    ALTER TABLE event ADD COLUMN primary_hash TEXT;
                    -- Kept by retention whatever its age (e.g. the event of a regression).
                    ALTER TABLE event ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX event_issue ON event(issue_id, timestamp);
                    CREATE INDEX event_project_timestamp ON event(project_id, timestamp);

                    CREATE TABLE issue_user (
                        issue_id INTEGER NOT NULL REFERENCES issue(id) ON DELETE CASCADE,
                        user_key TEXT NOT NULL,
                        PRIMARY KEY (issue_id, user_key)
                    ) STRICT, WITHOUT ROWID;

                    CREATE TABLE issue_tag (
                        issue_id INTEGER NOT NULL REFERENCES issue(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        times_seen INTEGER NOT NULL,
                        first_seen REAL NOT NULL,
                        last_seen REAL NOT NULL,
                        PRIMARY KEY (issue_id, key, value)
                    ) STRICT, WITHOUT ROWID;

                    CREATE TABLE issue_hour (
                        issue_id INTEGER NOT NULL REFERENCES issue(id) ON DELETE CASCADE,
                        hour INTEGER NOT NULL,
                        count INTEGER NOT NULL,
                        PRIMARY KEY (issue_id, hour)
                    ) STRICT, WITHOUT ROWID;

                    CREATE VIRTUAL TABLE issue_search USING fts5(title, culprit, message, tokenize = 'unicode61');
                    CREATE TRIGGER issue_deleted AFTER DELETE ON issue
                        BEGIN DELETE FROM issue_search WHERE rowid = old.id; END;
                    """)
        }
    }
}
