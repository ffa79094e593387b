import Foundation
import PostgresNIO
import SpyglassCore

/// Per-key rate-limit counts shared by the nodes on one database: the ``RateCountExchange`` port.
public struct PostgresRateCounts: RateCountExchange {
    let database: PostgresAppDatabase

    /// The exchange over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    /// One statement: this node's counts for `minute` replace what it published before, minutes before the previous
    /// one are dropped, and the other nodes' counts for `minute` come back (as they were before this statement's
    /// writes, which only touch this node's rows and older minutes).
    public func exchangeRateCounts(node: String, minute: Int64, counts: [String: Int]) async throws -> [String: Int] {
        let keys = counts.keys.sorted()
        let rows = try await database.rows(
            """
            WITH published AS (
                INSERT INTO rate_count (public_key, minute, node, count)
                SELECT v.key, \(minute), \(node), v.count FROM unnest(\(keys)::text[], \(keys.map { Int64(counts[$0, default: 0]) })::bigint[])
                    AS v(key, count)
                ON CONFLICT (public_key, minute, node) DO UPDATE SET count = excluded.count
                RETURNING 1
            ), pruned AS (
                DELETE FROM rate_count WHERE minute < \(minute - 1) RETURNING 1
            )
            SELECT public_key, sum(count)::bigint AS count FROM rate_count
            WHERE minute = \(minute) AND node <> \(node) GROUP BY public_key
            """)
        var others: [String: Int] = [:]
        for row in rows {
            let count: Int64 = try row.decode("count")
            others[try row.decode("public_key")] = Int(clamping: count)
        }
        return others
    }
}
