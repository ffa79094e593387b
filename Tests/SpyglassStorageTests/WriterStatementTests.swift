import Foundation
import GRDB
import Testing

@testable import SpyglassStorage

/// The writer's directly bound statements store and read what GRDB's `execute(arguments:)` would, and fail
/// with SQLite's message and the statement.
@Suite struct WriterStatementTests {
    func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, d REAL, s TEXT, b BLOB, f INTEGER NOT NULL)")
        }
        return queue
    }

    /// Outside a transaction (as after SQLite rolled the writer's back on its own) nothing is written.
    @Test func aStatementOutsideATransactionIsRefusedAndWritesNothing() throws {
        let queue = try database()
        try queue.writeWithoutTransaction { db in
            #expect(throws: DatabaseError.self) {
                try WriterStatement("INSERT INTO t (f) VALUES (?)", in: db).execute(true)
            }
            try db.execute(sql: "BEGIN")
            try WriterStatement("INSERT INTO t (f) VALUES (?)", in: db).execute(true)
            // As after a full disk mid-batch: SQLite has rolled the whole transaction back.
            try db.execute(sql: "ROLLBACK")
            #expect(throws: DatabaseError.self) {
                try WriterStatement("INSERT INTO t (f) VALUES (?)", in: db).execute(true)
            }
        }
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 0)
    }

    @Test func valuesBindInOrderAsGRDBWouldBindThem() throws {
        let queue = try database()
        let insert = "INSERT INTO t (i, d, s, b, f) VALUES (?, ?, ?, ?, ?)"
        let text = "naïve \u{1F600} 'quoted'"
        try queue.write { db in
            try WriterStatement(insert, in: db).execute(Int64(-7), 1.5, text, BlobBinding(bytes: [0, 1, 255]), true)
            try db.execute(sql: insert, arguments: [Int64(-7), 1.5, text, Data([0, 1, 255]), true])
            let nothing: String? = nil
            try WriterStatement(insert, in: db).execute(Int64?.none, Double?.none, nothing, BlobBinding(bytes: []), false)
            try db.execute(sql: insert, arguments: [nil, nil, nil, Data(), false])
        }
        try queue.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT i, d, s, b, f, typeof(b) FROM t ORDER BY id")
            #expect(rows.count == 4)
            #expect(rows[0] == rows[1])
            #expect(rows[0]["s"] as String? == text)
            #expect(rows[0]["b"] as Data? == Data([0, 1, 255]))
            // An empty blob stays a blob (an empty array may have no address, which SQLite binds as NULL).
            #expect(rows[2]["typeof(b)"] as String? == "blob")
            #expect(rows[2] == rows[3])
        }
    }

    /// Text binds from the string's bytes, as GRDB's C string does: up to a NUL (so two values differing only after
    /// one stay one key), the empty string as text, and strings not stored natively (bridged, shared) alike.
    @Test(arguments: [
        "", "a\u{0}b", "\u{0}", "tag:value", String(repeating: "é", count: 300), NSString("from Foundation") as String,
    ])
    func textBindsAsGRDBBindsIt(_ text: String) throws {
        let queue = try database()
        try queue.write { db in
            try WriterStatement("INSERT INTO t (s, f) VALUES (?, 1)", in: db).execute(text)
            try db.execute(sql: "INSERT INTO t (s, f) VALUES (?, 1)", arguments: [text])
        }
        try queue.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT s, typeof(s), length(CAST(s AS BLOB)) FROM t ORDER BY id")
            #expect(rows.count == 2)
            #expect(rows[0] == rows[1], "\(rows)")
            #expect(rows[0][1] as String? == "text")
        }
    }

    @Test func rowsAreReadByColumnIndex() throws {
        let queue = try database()
        try queue.write { db in
            for index in 1...3 {
                try db.execute(sql: "INSERT INTO t (i, d, s, f) VALUES (?, ?, ?, 1)", arguments: [index, Double(index) / 2, "row \(index)"])
            }
            try db.execute(sql: "INSERT INTO t (f) VALUES (0)")
            let select = try WriterStatement("SELECT i, d, s, f FROM t WHERE id >= ? ORDER BY id", in: db)
            let rows = try select.fetchAll(Int64(2)) { ($0.int64Optional(0), $0.double(1), $0.string(2), $0.bool(3)) }
            #expect(rows.map(\.0) == [2, 3, nil])
            #expect(rows.map(\.1) == [1, 1.5, 0])
            #expect(rows.map(\.2) == ["row 2", "row 3", nil])
            #expect(rows.map(\.3) == [true, true, false])
            #expect(try select.fetchInt64(Int64(3)) == 3)
            #expect(try select.fetchInt64(Int64(4)) == nil)  // NULL
            #expect(try select.fetchInt64(Int64(5)) == nil)  // no row
            #expect(try select.fetchOne(Int64(9)) { $0.int64(0) } == nil)
            // A statement left after its first row does not keep the transaction from committing.
            #expect(try select.fetchOne(Int64(1)) { $0.string(2) } == "row 1")
        }
    }

    @Test func failuresNameTheProblemAndTheStatement() throws {
        let queue = try database()
        try queue.write { db in
            let insert = try WriterStatement("INSERT INTO t (f) VALUES (?)", in: db)
            let missing: Int64? = nil
            let violation = try #require(throws: DatabaseError.self) { try insert.execute(missing) }
            #expect(violation.resultCode == .SQLITE_CONSTRAINT)
            #expect(violation.message?.contains("NOT NULL constraint failed: t.f") == true)
            #expect(violation.sql == "INSERT INTO t (f) VALUES (?)")
            let count = try #require(throws: DatabaseError.self) { try insert.execute(Int64(1), Int64(2)) }
            #expect(count.message == "2 values for 1 parameters")
            // The statement is usable again after a failure.
            try insert.execute(Int64(1))
        }
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 1)
    }
}
