import GRDB
import GRDBSQLite

/// A statement of the writer's per-event path, bound and stepped through SQLite's C API.
///
/// An event costs about 25 statements in the writer's transaction. Through GRDB's `execute(arguments:)` each
/// one boxes its arguments into an array of existentials, copies them into `DatabaseValue`s, checks them
/// against the statement and notifies observers: in the benchmark's profile that took more of the writer thread's
/// time than SQLite spent executing those statements (docs/performance.md). Here the values bind in place, in
/// order, as GRDB's own `StatementBinding` conformances store them (``WriterBinding``).
///
/// The prepared statement comes from GRDB's statement cache, which owns it (and finalizes it with the
/// connection); a `WriterStatement` lives for one use inside a `write` closure.
struct WriterStatement {
    private let statement: Statement
    private var handle: SQLiteStatement { statement.sqliteStatement }

    init(_ sql: String, in db: Database) throws {
        statement = try db.cachedStatement(sql: sql)
    }

    /// Runs the statement to its end with `values` bound to its parameters in order.
    func execute<each Value: WriterBinding>(_ values: repeat each Value) throws {
        try bind(repeat each values)
        defer { sqlite3_reset(handle) }
        var code = sqlite3_step(handle)
        while code == SQLITE_ROW { code = sqlite3_step(handle) }
        guard code == SQLITE_DONE else { throw error(code) }
    }

    /// The first row read by `read`, or nil when there is none.
    func fetchOne<T, each Value: WriterBinding>(_ values: repeat each Value, read: (Columns) throws -> T) throws -> T? {
        try bind(repeat each values)
        defer { sqlite3_reset(handle) }
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return try read(Columns(handle: handle))
        case SQLITE_DONE: return nil
        default: throw error(code)
        }
    }

    /// Every row, each read by `read`.
    func fetchAll<T, each Value: WriterBinding>(
        _ values: repeat each Value, read: (Columns) throws -> T
    ) throws -> [T] {
        try bind(repeat each values)
        defer { sqlite3_reset(handle) }
        var rows: [T] = []
        while true {
            let code = sqlite3_step(handle)
            switch code {
            case SQLITE_ROW: rows.append(try read(Columns(handle: handle)))
            case SQLITE_DONE: return rows
            default: throw error(code)
            }
        }
    }

    /// The first column of the first row as an integer; nil without a row or when it is NULL.
    func fetchInt64<each Value: WriterBinding>(_ values: repeat each Value) throws -> Int64? {
        try fetchOne(repeat each values) { $0.int64Optional(0) } ?? nil
    }

    /// The current row's columns, by index. Valid only inside the `read` closure.
    struct Columns {
        fileprivate let handle: SQLiteStatement

        func isNull(_ index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }
        func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }
        func int64Optional(_ index: Int32) -> Int64? { isNull(index) ? nil : int64(index) }
        func double(_ index: Int32) -> Double { sqlite3_column_double(handle, index) }
        func bool(_ index: Int32) -> Bool { int64(index) != 0 }
        /// The column as text (as GRDB reads it: up to the first NUL); nil when NULL.
        func string(_ index: Int32) -> String? {
            guard let text = sqlite3_column_text(handle, index) else { return nil }
            return String(cString: text)
        }
    }

    private func bind<each Value: WriterBinding>(_ values: repeat each Value) throws {
        // Only inside the writer's transaction. After some errors (a full disk) SQLite rolls the transaction back
        // itself; were such an error ever swallowed, steps through the C API (past GRDB's checks) would otherwise
        // each commit on their own, and a batch answered 503 would be partly stored.
        guard sqlite3_get_autocommit(sqlite3_db_handle(handle)) == 0 else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE, message: "a writer statement outside a transaction", sql: statement.sql)
        }
        var count: Int32 = 0
        for _ in repeat each values { count += 1 }
        guard count == sqlite3_bind_parameter_count(handle) else {
            throw DatabaseError(message: "\(count) values for \(sqlite3_bind_parameter_count(handle)) parameters", sql: statement.sql)
        }
        var index: Int32 = 0
        for value in repeat each values {
            index += 1
            let code = value.bind(to: handle, at: index)
            guard code == SQLITE_OK else { throw error(code) }
        }
    }

    private func error(_ code: Int32) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))),
            sql: statement.sql)
    }
}

/// A value a ``WriterStatement`` binds: as GRDB's `StatementBinding` does, except text (below).
protocol WriterBinding {
    func bind(to sqliteStatement: SQLiteStatement, at index: CInt) -> CInt
}

extension Int64: WriterBinding {}
extension Double: WriterBinding {}
extension Bool: WriterBinding {}
extension Int: WriterBinding {}

/// Text binds from the string's own UTF-8 bytes. GRDB passes the String as a C string, which makes a NUL-terminated
/// copy of it for each bind (a profile's largest cost of the writer outside SQLite); this stores what GRDB stores:
/// the bytes up to the first NUL, as GRDB's `-1` length does.
extension String: WriterBinding {
    func bind(to sqliteStatement: SQLiteStatement, at index: CInt) -> CInt {
        var text = self
        return text.withUTF8 { (bytes: UnsafeBufferPointer<UInt8>) -> CInt in
            // An empty string may have no address (SQLite would bind NULL for that).
            guard let base = UnsafeRawPointer(bytes.baseAddress) else {
                return sqlite3_bind_text(sqliteStatement, index, "", 0, SQLITE_TRANSIENT_BINDING)
            }
            let length = bytes.firstIndex(of: 0) ?? bytes.count
            guard length <= Int(Int32.max) else { return SQLITE_TOOBIG }
            let text = base.assumingMemoryBound(to: CChar.self)
            return sqlite3_bind_text(sqliteStatement, index, text, CInt(length), SQLITE_TRANSIENT_BINDING)
        }
    }
}

extension Optional: WriterBinding where Wrapped: WriterBinding {
    func bind(to sqliteStatement: SQLiteStatement, at index: CInt) -> CInt {
        switch self {
        case .some(let value): value.bind(to: sqliteStatement, at: index)
        case .none: sqlite3_bind_null(sqliteStatement, index)
        }
    }
}

/// Bytes bound as a BLOB (GRDB binds `Data`; this spares the payload a copy into one).
struct BlobBinding: WriterBinding {
    let bytes: [UInt8]

    func bind(to sqliteStatement: SQLiteStatement, at index: CInt) -> CInt {
        // An empty array may have no address, which SQLite would bind as NULL.
        if bytes.isEmpty { return sqlite3_bind_zeroblob(sqliteStatement, index, 0) }
        return bytes.withUnsafeBytes { buffer in
            sqlite3_bind_blob(sqliteStatement, index, buffer.baseAddress, CInt(buffer.count), SQLITE_TRANSIENT_BINDING)
        }
    }
}

/// SQLite copies the bound value (`SQLITE_TRANSIENT`, a macro Swift does not import).
private let SQLITE_TRANSIENT_BINDING = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
