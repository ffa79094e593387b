import GRDB

extension AppDatabase {
    /// Structured log lines (Sentry's `log` items), newest read first, per project; `size` is what retention by size
    /// adds up (the line's texts and attributes as stored); and each project's log retention.
    static func registerLogMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v15 logs") { db in
            // The lines moved to a file of their own since (``LogDatabase``): a table made here is moved there and
            // dropped when the database opens (``LogDatabase/takeLines(from:mainPath:)``).
            try db.execute(sql: logTableSQL)
            try db.execute(
                sql: """
                    ALTER TABLE project ADD COLUMN log_retention_days INTEGER CHECK (log_retention_days IS NULL OR log_retention_days > 0);
                    ALTER TABLE project ADD COLUMN log_max_bytes INTEGER CHECK (log_max_bytes IS NULL OR log_max_bytes > 0);
                    """)
        }
    }
}

extension AppDatabase {
    /// The lines' table (in their own database, ``LogDatabase``; lines name their project by id: projects are never
    /// deleted).
    static let logTableSQL = """
        CREATE TABLE log_entry (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL,
            timestamp REAL NOT NULL,
            received REAL NOT NULL,
            severity INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 24),
            body TEXT NOT NULL,
            template TEXT,
            trace_id TEXT CHECK (trace_id IS NULL OR length(trace_id) = 32),
            span_id TEXT CHECK (span_id IS NULL OR length(span_id) = 16),
            release TEXT,
            environment TEXT,
            sdk TEXT,
            attributes TEXT NOT NULL,
            size INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX log_entry_time ON log_entry(project_id, timestamp);
        CREATE INDEX log_entry_trace ON log_entry(project_id, trace_id) WHERE trace_id IS NOT NULL;
        """

    /// The table's columns, in order.
    static let logColumns = [
        "id", "project_id", "timestamp", "received", "severity", "body", "template", "trace_id", "span_id", "release",
        "environment", "sdk", "attributes", "size",
    ]
}
