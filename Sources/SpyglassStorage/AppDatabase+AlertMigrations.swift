import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

extension AppDatabase {
    /// Alert rules, their throttle state, the notification outbox and its attempts, per-minute counts.
    static func registerAlertMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5 alerts") { db in
            try db.execute(
                sql: """
                    -- spec: the rule as JSON (AlertRule.json). The flag columns repeat what its conditions need, so the
                    -- writer asks SQLite for only the rules an event can fire.
                    CREATE TABLE alert_rule (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
                        spec TEXT NOT NULL,
                        frequency_minutes INTEGER NOT NULL CHECK (frequency_minutes > 0),
                        on_new INTEGER NOT NULL CHECK (on_new IN (0, 1)),
                        on_regression INTEGER NOT NULL CHECK (on_regression IN (0, 1)),
                        on_reappeared INTEGER NOT NULL CHECK (on_reappeared IN (0, 1)),
                        counts_events INTEGER NOT NULL CHECK (counts_events IN (0, 1)),
                        counts_users INTEGER NOT NULL CHECK (counts_users IN (0, 1)),
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX alert_rule_project ON alert_rule(project_id, enabled);

                    -- When a rule last fired for an issue, per trigger (the throttle): a regression right after the
                    -- new-issue alert is still told, a second regression within the interval is not.
                    CREATE TABLE alert_rule_issue (
                        rule_id INTEGER NOT NULL REFERENCES alert_rule(id) ON DELETE CASCADE,
                        issue_id INTEGER NOT NULL REFERENCES issue(id) ON DELETE CASCADE,
                        trigger TEXT NOT NULL,
                        last_fired REAL NOT NULL,
                        PRIMARY KEY (rule_id, issue_id, trigger)
                    ) STRICT, WITHOUT ROWID;
                    CREATE INDEX alert_rule_issue_issue ON alert_rule_issue(issue_id);

                    -- The outbox: one row per action a rule fired, written in the transaction of the event that
                    -- fired it. action: the action as JSON with its resolved recipients; content: the issue and
                    -- event as they were then. The worker delivers rows whose next_attempt has come.
                    CREATE TABLE notification (
                        id INTEGER PRIMARY KEY,
                        project_id INTEGER NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        rule_id INTEGER REFERENCES alert_rule(id) ON DELETE SET NULL,
                        rule_name TEXT NOT NULL,
                        issue_id INTEGER REFERENCES issue(id) ON DELETE CASCADE,
                        trigger TEXT NOT NULL,
                        channel TEXT NOT NULL,
                        target TEXT NOT NULL,
                        action TEXT NOT NULL,
                        content TEXT NOT NULL,
                        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        created_at REAL NOT NULL,
                        next_attempt REAL,
                        delivered_at REAL,
                        last_error TEXT
                    ) STRICT;
                    CREATE INDEX notification_due ON notification(next_attempt) WHERE status = 'pending';
                    CREATE INDEX notification_issue ON notification(issue_id, id);
                    CREATE INDEX notification_rule ON notification(rule_id, id);

                    CREATE TABLE notification_attempt (
                        id INTEGER PRIMARY KEY,
                        notification_id INTEGER NOT NULL REFERENCES notification(id) ON DELETE CASCADE,
                        at REAL NOT NULL,
                        outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
                        detail TEXT NOT NULL
                    ) STRICT;
                    CREATE INDEX notification_attempt_notification ON notification_attempt(notification_id, id);

                    -- Events per issue and minute (event clock), kept while the project has frequency rules;
                    -- maintenance deletes minutes older than two hours.
                    CREATE TABLE issue_minute (
                        issue_id INTEGER NOT NULL REFERENCES issue(id) ON DELETE CASCADE,
                        minute INTEGER NOT NULL,
                        count INTEGER NOT NULL,
                        PRIMARY KEY (issue_id, minute)
                    ) STRICT, WITHOUT ROWID;

                    -- When each user was last seen in the issue, for user-frequency conditions.
                    ALTER TABLE issue_user ADD COLUMN last_seen REAL;
                    CREATE INDEX issue_user_last_seen ON issue_user(issue_id, last_seen);
                    """)
            // Projects that exist get the rule new projects get.
            for projectID in try Int64.fetchAll(db, sql: "SELECT id FROM project") {
                try AlertRows.insertRule(.projectDefault, projectID: projectID, now: Date(), in: db)
            }
        }
    }
}
