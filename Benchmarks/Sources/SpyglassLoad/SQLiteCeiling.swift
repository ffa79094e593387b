import CSQLite
import Foundation

/// The storage ceiling: the same compressed payloads inserted into a plain SQLite table in batches of 500 per
/// transaction, WAL and `synchronous = FULL` as the server uses, with nothing else done.
func sqliteCeiling(_ options: Options) throws -> [String: Any] {
    let factory = try EnvelopeFactory(templatesPath: try options.string("templates"), newIssueRatio: 0)
    let path = try options.string("database")
    let duration = try options.number("duration", 5)
    let batch = Int(try options.number("batch", 500))
    var db: OpaquePointer?
    guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw LoadError("cannot open \(path)") }
    defer { sqlite3_close(db) }
    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw LoadError(String(cString: sqlite3_errmsg(db))) }
    }
    try exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
    try exec("CREATE TABLE IF NOT EXISTS event (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, timestamp REAL NOT NULL, payload BLOB NOT NULL)")
    var statement: OpaquePointer?
    guard sqlite3_prepare_v2(db, "INSERT INTO event (event_id, timestamp, payload) VALUES (?, ?, ?)", -1, &statement, nil) == SQLITE_OK else {
        throw LoadError(String(cString: sqlite3_errmsg(db)))
    }
    defer { sqlite3_finalize(statement) }
    let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    var inserted = 0
    var generator = SystemRandomNumberGenerator()
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int64(duration * 1000))
    while ContinuousClock.now < deadline {
        try exec("BEGIN")
        for _ in 0..<batch {
            let eventID = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            let payload = factory.payloads[inserted % factory.payloads.count]
            sqlite3_bind_text(statement, 1, eventID, -1, transient)
            sqlite3_bind_double(statement, 2, Date.now.timeIntervalSince1970)
            _ = payload.withUnsafeBytes { sqlite3_bind_blob(statement, 3, $0.baseAddress, Int32($0.count), transient) }
            guard sqlite3_step(statement) == SQLITE_DONE else { throw LoadError(String(cString: sqlite3_errmsg(db))) }
            sqlite3_reset(statement)
            inserted += 1
        }
        try exec("COMMIT")
    }
    let seconds = (ContinuousClock.now - start) / .seconds(1)
    return ["inserted": inserted, "seconds": seconds, "events_per_second": Double(inserted) / seconds, "batch": batch]
}
