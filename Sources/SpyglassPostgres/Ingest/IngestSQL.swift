import Dispatch
import Logging
import NIOCore
import PostgresNIO
import SpyglassCore
import Synchronization

/// The writer's connection inside a batch's transaction: bound queries (``PostgresQuery``'s interpolations become
/// `$n` parameters), their rows collected. A NULL parameter goes out with no type, so nullable values are cast in the
/// SQL (`\(value)::text`) wherever PostgreSQL could not infer their type from a column.
///
/// Synchronous: the writer's own thread waits for each statement (postgres-nio's future API), so a statement costs
/// one wake-up of that thread, not the hops of an async call resumed on the cooperative pool. Never use it from a
/// task or an event loop.
///
/// The transaction begins lazily: `BEGIN` goes out before the first statement that is not marked
/// `outsideTransaction` (a read, or a write that stands alone: see ``PostgresEventSet``), so a batch whose only
/// write is one statement commits it by itself, two round trips fewer (``commit()``, ``rollback()``).
struct IngestSQL {
    let connection: PostgresConnection
    let logger: Logger
    /// The statements prepared on each of the pool's connections (``prepared(_:outsideTransaction:)``).
    let statements: PreparedStatements
    /// Wakes ``wait(_:)`` when the connection closes.
    private let closing: CloseWatch
    /// Whether `BEGIN` went out (and no `COMMIT` or `ROLLBACK` since).
    private let transaction = TransactionState()
    /// The projects whose ingest locks a transaction takes first (``PostgresEventSet/ingestLockSpace``).
    private let lockedProjects: [Int64]

    /// `lockedProjects`: the batch's projects, whose ingest locks a transaction takes before anything else.
    init(connection: PostgresConnection, logger: Logger, statements: PreparedStatements, lockedProjects: [Int64] = []) {
        self.connection = connection
        self.logger = logger
        self.statements = statements
        self.closing = statements.closeWatch(connection)
        self.lockedProjects = Set(lockedProjects).sorted()
    }

    /// Whether a transaction is open: statements since `BEGIN` commit together.
    var inTransaction: Bool { transaction.begun }

    /// Sends `BEGIN` unless a transaction is open, and takes the batch's projects' ingest locks, in id order: two
    /// nodes' writers then lock the projects' rows in one order (a batch of one statement takes them in it).
    func begin() throws {
        guard !transaction.begun else { return }
        _ = try wait(connection.query("BEGIN", logger: logger))
        transaction.begun = true
        guard !lockedProjects.isEmpty else { return }
        _ = try prepared(
            """
            SELECT count(pg_advisory_xact_lock(\(PostgresEventSet.ingestLockSpace), (p % 2147483647)::int))
            FROM unnest(\(lockedProjects)::bigint[]) AS p
            """)
    }

    /// Commits the open transaction, if any (a statement outside one committed by itself).
    func commit() throws {
        guard transaction.begun else { return }
        transaction.begun = false
        _ = try wait(connection.query("COMMIT", logger: logger))
    }

    /// Rolls the open transaction back, if any.
    func rollback() throws {
        guard transaction.begun else { return }
        transaction.begun = false
        _ = try wait(connection.query("ROLLBACK", logger: logger))
    }

    /// Every row of a statement whose text is the same in every batch: prepared on the connection the first time
    /// (a named statement), executed by name after that, so PostgreSQL parses and plans it once per connection.
    /// Every parameter's type must be clear from the text (`\(ids)::bigint[]`; an uncast one is text).
    /// `outsideTransaction`: runs without beginning one (by itself, when none is open).
    func prepared(_ statement: IngestStatement, outsideTransaction: Bool = false) throws -> [PreparedRow] {
        if !outsideTransaction { try begin() }
        let query: PreparedQuery
        if let known = statements.query(statement.sql, on: connection.id) {
            query = known
        } else {
            query = try wait(connection.prepare(query: statement.sql))
            statements.insert(query, for: statement.sql, on: connection.id)
        }
        do {
            return try wait(query.execute(statement.binds)).map(PreparedRow.init)
        } catch {
            // Gone (a pooler's DISCARD ALL) or stale (a migration changed its result's columns): the batch fails, and
            // the next use on this connection prepares it again.
            if let state = PostgresAppDatabase.sqlState(error), PreparedStatements.invalidating.contains(state) {
                statements.forget(connection.id)
            }
            throw error
        }
    }

    /// The statement's result, waited for on this thread; or `PostgresError.connectionClosed` once the connection is
    /// closed. postgres-nio writes a statement to the connection's channel without a promise: one written after the
    /// channel closed (PostgreSQL went away while the pool still lent the connection) never reaches its handler,
    /// and its future never completes (a writer that waited for it stopped storing for good).
    func wait<Value: Sendable>(_ future: EventLoopFuture<Value>) throws -> Value {
        let outcome = Mutex<Result<Value, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        future.whenComplete { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        if closing.wake(done) {
            done.wait()
            closing.wake(nil)
        }
        // Woken by the close: a statement that reached the handler was failed by it before the close future
        // completed (both on the channel's event loop), so it has its answer; any other never will.
        return try (outcome.withLock { $0 } ?? .failure(PostgresError.connectionClosed)).get()
    }

    /// Runs a statement, ignoring any rows.
    func run(_ query: PostgresQuery, outsideTransaction: Bool = false) throws {
        if !outsideTransaction { try begin() }
        _ = try wait(connection.query(query, logger: logger))
    }

    /// Every row of a query.
    func rows(_ query: PostgresQuery, outsideTransaction: Bool = false) throws -> [PostgresRow] {
        if !outsideTransaction { try begin() }
        return try wait(connection.query(query, logger: logger)).rows
    }

    /// The first row of a query (of `RETURNING`: whether a row was written), or nil.
    func row(_ query: PostgresQuery) throws -> PostgresRow? {
        try rows(query).first
    }

    /// Runs `write` in a savepoint. When it throws, what it wrote is rolled back alone (the transaction stays
    /// usable) and its error returned; a savepoint that cannot be rolled back throws (the transaction is lost).
    func inSavepoint(_ write: () throws -> Void) throws -> (any Error)? {
        try run("SAVEPOINT side_item")
        do {
            try write()
        } catch {
            try run("ROLLBACK TO SAVEPOINT side_item")
            try run("RELEASE SAVEPOINT side_item")
            return error
        }
        try run("RELEASE SAVEPOINT side_item")
        return nil
    }
}

/// Whether an ``IngestSQL``'s transaction is open (one per batch attempt, used on the writer's thread).
private final class TransactionState: Sendable {
    private let state = Mutex(false)

    var begun: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

/// `table.column + excluded.column` for an upsert, saturating at Int64.max: PostgreSQL fails an overflowing bigint
/// sum ("bigint out of range"), which would fail every later upsert of the row. Both are non-negative: counts are
/// checked where they enter. `table` qualifies the old value (a bare name is ambiguous in ON CONFLICT DO UPDATE).
func saturatingSum(_ table: String, _ column: String) -> String {
    let old = "\(table).\(column)"
    return "CASE WHEN \(old) > 9223372036854775807 - excluded.\(column) THEN 9223372036854775807 ELSE \(old) + excluded.\(column) END"
}

/// A statement for ``IngestSQL/prepared(_:)``: its text with `$n` for each interpolated value, and the values.
struct IngestStatement: ExpressibleByStringInterpolation {
    var sql: String
    var binds: [PostgresData]

    init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PostgresData] = []

        init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + 4 * interpolationCount)
            binds.reserveCapacity(interpolationCount)
        }

        mutating func appendLiteral(_ literal: String) { sql += literal }

        /// Binds `value` (binary, as postgres-nio encodes it); `$n` in the text.
        mutating func appendInterpolation(_ value: some PostgresNonThrowingEncodable) {
            var buffer = ByteBuffer()
            value.encode(into: &buffer, context: .default)
            binds.append(PostgresData(type: value.psqlType, formatCode: value.psqlFormat, value: buffer))
            sql += "$\(binds.count)"
        }

        /// Binds an array, written as PostgreSQL's binary array by ``ArrayColumn``: postgres-nio's generic encoding
        /// reserves and patches each element's length through the element's conformance and grows its buffer as it
        /// goes (a sixth of the writer thread's time, docs/performance.md). `$n` in the text.
        mutating func appendInterpolation(_ values: [Int64]) {
            var column = ArrayColumn(.int8, capacity: 12 * values.count)
            for value in values { column.append(value) }
            appendInterpolation(column)
        }

        mutating func appendInterpolation(_ values: [Double]) {
            var column = ArrayColumn(.float8, capacity: 12 * values.count)
            for value in values { column.append(value) }
            appendInterpolation(column)
        }

        mutating func appendInterpolation(_ values: [Bool]) {
            var column = ArrayColumn(.bool, capacity: 5 * values.count)
            for value in values { column.append(value) }
            appendInterpolation(column)
        }

        /// Each string no longer than ``ArrayColumn/maxValueBytes`` (event values are cut far below it where they
        /// enter).
        mutating func appendInterpolation(_ values: [String]) {
            var column = ArrayColumn(.text, capacity: values.reduce(4 * values.count) { $0 + $1.utf8.count })
            for value in values { column.append(value) }
            appendInterpolation(column)
        }

        mutating func appendInterpolation(_ values: [ByteBuffer]) {
            var column = ArrayColumn(.bytea, capacity: values.reduce(4 * values.count) { $0 + $1.readableBytes })
            for value in values { column.append(value) }
            appendInterpolation(column)
        }

        /// Binds `column` as an array; `$n` in the text.
        mutating func appendInterpolation(_ column: ArrayColumn) {
            binds.append(column.data)
            sql += "$\(binds.count)"
        }

        /// `text` as SQL (a constant of the writer's, such as a list of columns; never a value).
        mutating func appendInterpolation(unescaped text: String) { sql += text }

        /// `statement`'s text with its values, its `$n` renumbered after the values bound so far: statements built
        /// apart become parts of one (common table expressions), sent in one round trip. The writer's statements
        /// hold no `$` but their parameters' (no dollar quoting, no `$` in a literal).
        mutating func appendInterpolation(embedding statement: IngestStatement) {
            let offset = binds.count
            binds += statement.binds
            guard offset > 0 else {
                sql += statement.sql
                return
            }
            let text = Array(statement.sql.utf8)
            var index = 0
            var start = 0
            while index < text.count {
                guard text[index] == UInt8(ascii: "$") else {
                    index += 1
                    continue
                }
                var end = index + 1
                var number = 0
                while end < text.count, text[end] >= UInt8(ascii: "0"), text[end] <= UInt8(ascii: "9"), number < 1_000_000 {
                    number = number * 10 + Int(text[end] - UInt8(ascii: "0"))
                    end += 1
                }
                guard end > index + 1 else {
                    index += 1
                    continue
                }
                sql += String(decoding: text[start..<index], as: UTF8.self)
                sql += "$\(number + offset)"
                start = end
                index = end
            }
            sql += String(decoding: text[start...], as: UTF8.self)
        }
    }
}

/// A column of values as PostgreSQL's binary one-dimensional array (the format of `array_send`: a header, then each
/// element's length and bytes, -1 for NULL), written value by value: no array of Swift values kept first and no
/// generic encoding per element.
struct ArrayColumn {
    enum Element {
        case int8, float8, text, bool, bytea

        var type: PostgresDataType {
            switch self {
            case .int8: .int8
            case .float8: .float8
            case .text: .text
            case .bool: .bool
            case .bytea: .bytea
            }
        }

        var arrayType: PostgresDataType {
            switch self {
            case .int8: .int8Array
            case .float8: .float8Array
            case .text: .textArray
            case .bool: .boolArray
            case .bytea: .byteaArray
            }
        }
    }

    /// The largest value PostgreSQL takes in a field (1 GiB less a byte); a longer one must not reach ``append(_:)``
    /// (its length would not fit the element's header).
    static let maxValueBytes = (1 << 30) - 1

    private let element: Element
    private var elements = ByteBuffer()
    private var count: Int32 = 0
    private var hasNull = false

    /// `capacity`: the elements' bytes to reserve room for (each value and its 4-byte length).
    init(_ element: Element, capacity: Int = 0) {
        self.element = element
        if capacity > 0 { elements.reserveCapacity(capacity) }
    }

    var isEmpty: Bool { count == 0 }

    mutating func append(_ value: Int64) {
        elements.writeInteger(Int32(8))
        elements.writeInteger(value)
        count += 1
    }

    mutating func append(_ value: Double) {
        elements.writeInteger(Int32(8))
        elements.writeInteger(value.bitPattern)
        count += 1
    }

    mutating func append(_ value: Bool) {
        elements.writeInteger(Int32(1))
        elements.writeInteger(UInt8(value ? 1 : 0))
        count += 1
    }

    /// A byte string no longer than ``maxValueBytes``.
    mutating func append(_ value: ByteBuffer) {
        elements.writeInteger(Int32(clamping: value.readableBytes))
        elements.writeImmutableBuffer(value)
        count += 1
    }

    mutating func append(_ value: String?) {
        count += 1
        guard let value else {
            elements.writeInteger(Int32(-1))
            hasNull = true
            return
        }
        let start = elements.writerIndex
        elements.writeInteger(Int32(0))
        let length = elements.writeString(value)
        elements.setInteger(Int32(clamping: length), at: start)
    }

    /// The array as a parameter's value.
    var data: PostgresData {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(20 + elements.readableBytes)
        buffer.writeInteger(Int32(count == 0 ? 0 : 1))  // dimensions (none for an empty array)
        buffer.writeInteger(Int32(hasNull ? 1 : 0))
        buffer.writeInteger(element.type.rawValue)
        if count > 0 {
            buffer.writeInteger(count)  // the dimension's length
            buffer.writeInteger(Int32(1))  // its lower bound
            buffer.writeImmutableBuffer(elements)
        }
        return PostgresData(type: element.arrayType, formatCode: .binary, value: buffer)
    }
}

/// A row of a writer statement's result, read by position.
///
/// postgres-nio asks for every result column in binary, but a statement prepared through `prepare(query:)` keeps
/// the row description the server sent at preparation (text formats): the cells are read as binary here. Rows of
/// an unprepared query (binary already) read the same way.
struct PreparedRow {
    private let cells: [PostgresCell]

    init(_ row: PostgresRow) {
        cells = row.map { cell in
            PostgresCell(bytes: cell.bytes, dataType: cell.dataType, format: .binary, columnName: cell.columnName, columnIndex: cell.columnIndex)
        }
    }

    /// The value of column `index` as `T`; a NULL decodes only into an Optional.
    func decode<T: PostgresDecodable>(_ index: Int, as _: T.Type = T.self) throws -> T {
        guard cells.indices.contains(index) else {
            throw DomainError(.unavailable, "the database answered \(cells.count) columns where \(index + 1) were expected")
        }
        return try cells[index].decode(T.self)
    }
}

/// Which statements are prepared on which of the pool's connections (by connection id), for ``IngestSQL``.
final class PreparedStatements: Sendable {
    private let byConnection = Mutex<[Int: [String: PreparedQuery]]>([:])
    private let closeWatches = Mutex<[Int: CloseWatch]>([:])

    /// The connection's ``CloseWatch``, made on its first use (bounded as the statements are).
    func closeWatch(_ connection: PostgresConnection) -> CloseWatch {
        closeWatches.withLock { watches in
            if let watch = watches[connection.id] { return watch }
            if watches.count >= 64 { watches = [:] }
            let watch = CloseWatch(connection)
            watches[connection.id] = watch
            return watch
        }
    }

    /// SQLSTATEs after which a connection's statements are prepared again: 26000 (`invalid_sql_statement_name`, no
    /// such statement) and 0A000 (`feature_not_supported`: "cached plan must not change result type").
    static let invalidating: Set<String> = ["26000", "0A000"]

    /// Whether the connection is new to the writer, or its session was reset (``forget(_:)``): its planner settings
    /// are to be set before its first batch (``PostgresIngestCommitter/plannerSettings``).
    func isNew(_ connection: Int) -> Bool {
        byConnection.withLock { $0[connection] == nil }
    }

    /// The writer's settings are set on the connection.
    func configured(_ connection: Int) {
        byConnection.withLock { table in Self.track(connection, in: &table) }
    }

    func forget(_ connection: Int) {
        byConnection.withLock { $0[connection] = nil }
    }

    func query(_ sql: String, on connection: Int) -> PreparedQuery? {
        byConnection.withLock { $0[connection]?[sql] }
    }

    func insert(_ query: PreparedQuery, for sql: String, on connection: Int) {
        byConnection.withLock { table in
            Self.track(connection, in: &table)
            table[connection]?[sql] = query
        }
    }

    /// Makes room for `connection` in `table`. Connections come and go with the pool (postgres-nio closes one idle
    /// for a minute): a closed one's statements are forgotten with the rest now and then (an open one's settings are
    /// set and its statements prepared again, under new names: postgres-nio names each one afresh).
    private static func track(_ connection: Int, in table: inout [Int: [String: PreparedQuery]]) {
        guard table[connection] == nil else { return }
        if table.count >= 64 { table = [:] }
        table[connection] = [:]
    }
}

/// Wakes the thread waiting for a statement when its connection closes (``IngestSQL/wait(_:)``): one callback on the
/// connection's close future for the connection's life, not one per statement (a future keeps its callbacks until it
/// completes, and a connection's close future completes when the connection ends).
final class CloseWatch: Sendable {
    private struct State {
        var closed = false
        var waiter: DispatchSemaphore?
    }

    private let state = Mutex(State())

    init(_ connection: PostgresConnection) {
        connection.closeFuture.whenComplete { [self] _ in
            let waiter = state.withLock { state in
                state.closed = true
                return state.waiter
            }
            waiter?.signal()
        }
    }

    /// `waiter` is signalled when the connection closes (nil: none is); false when it is closed already.
    @discardableResult
    func wake(_ waiter: DispatchSemaphore?) -> Bool {
        state.withLock { state in
            state.waiter = waiter
            return !state.closed
        }
    }
}
