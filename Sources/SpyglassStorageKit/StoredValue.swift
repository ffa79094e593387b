/// One stored column value, as a copy between backends carries it (`spyglass migrate --to postgres://…`): the
/// representations both schemas share (integers, reals, text, bytes), never reinterpreted on the way.
package enum StoredValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A table's rows as they are copied: the column names and, per row, a value for each column in that order.
package struct StoredRows: Sendable {
    package var columns: [String]
    package var rows: [[StoredValue]]

    package init(columns: [String], rows: [[StoredValue]]) {
        self.columns = columns
        self.rows = rows
    }
}
