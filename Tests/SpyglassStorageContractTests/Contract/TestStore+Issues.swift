import SpyglassCore
import SpyglassPostgres
import SpyglassStorage

/// The issue, event and maintenance ports of a test store, whichever its backend.
extension TestStore {
    var issues: any IssueStore {
        switch database {
        case .sqlite(let database): SQLiteIssues(database)
        case .postgres(let database): PostgresIssues(database)
        }
    }

    var events: any EventStore {
        switch database {
        case .sqlite(let database): SQLiteEvents(database)
        case .postgres(let database): PostgresEvents(database)
        }
    }

    var maintenance: any MaintenanceStore {
        switch database {
        case .sqlite(let database): SQLiteMaintenance(database)
        case .postgres(let database): PostgresMaintenance(database)
        }
    }

    var logs: any LogStore {
        switch database {
        case .sqlite(let database): SQLiteLogs(database)
        case .postgres(let database): PostgresLogs(database)
        }
    }
}
