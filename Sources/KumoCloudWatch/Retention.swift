import GRDB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How long data is kept at each resolution, as CloudWatch keeps it: data points under a minute
/// for 3 hours, then one-minute statistic sets for 15 days, five-minute sets for 63 days and
/// one-hour sets for 455 days; older data is dropped. Each metric's data on disk is bounded so.
/// Ages are real time: datapoints carry real timestamps, whatever `--time-scale` says.
enum Retention {
    /// From which age data is rolled into buckets of which size (seconds).
    static let tiers: [(age: Double, bucket: Double)] = [(3 * 3600, 60), (15 * 86400, 300), (63 * 86400, 3600)]
    static let kept = 455.0 * 86400

    /// The timestamp a datapoint is stored at: older than 3 hours, at the start of its minute.
    static func storedTimestamp(_ t: Double, now: Double) -> Double {
        now - t > tiers[0].age ? (t / 60).rounded(.down) * 60 : t
    }

    /// Whether a statistics period can be served for data from `start`: a multiple of the bucket
    /// size of the oldest tier that data has reached (60 s after 3 hours, 300 s after 15 days...).
    static func servesPeriod(_ period: Double, from start: Double, now: Double) -> Bool {
        guard let tier = tiers.last(where: { now - start > $0.age }) else { return true }
        return period.truncatingRemainder(dividingBy: tier.bucket) == 0
    }

    /// Rolls each tier's newly aged data (since the tier's watermark in `cw_rollups`) into its
    /// buckets, and drops what is older than 455 days.
    static func apply(_ db: Database, now: Double) throws {
        for (age, bucket) in tiers {
            let cutoff = ((now - age) / bucket).rounded(.down) * bucket
            let from = try Double.fetchOne(db, sql: "SELECT upTo FROM cw_rollups WHERE bucket = ?", arguments: [bucket]) ?? 0
            guard cutoff > from else { continue }
            let series = "accountId, region, namespace, name, dimensions"
            try db.execute(sql: "DROP TABLE IF EXISTS temp.cw_rolled")
            try db.execute(
                sql: """
                    CREATE TEMP TABLE cw_rolled AS
                    SELECT \(series), CAST(timestamp / ?1 AS INTEGER) * ?1 AS timestamp, SUM(sampleCount) AS sampleCount, SUM(sum) AS sum,
                           MIN(minimum) AS minimum, MAX(maximum) AS maximum, unit
                    FROM cw_datapoints WHERE timestamp >= ?2 AND timestamp < ?3
                    GROUP BY \(series), CAST(timestamp / ?1 AS INTEGER), unit
                    """, arguments: [bucket, from, cutoff])
            try db.execute(sql: "DELETE FROM cw_datapoints WHERE timestamp >= ? AND timestamp < ?", arguments: [from, cutoff])
            try db.execute(
                sql: "INSERT INTO cw_datapoints (\(series), timestamp, sampleCount, sum, minimum, maximum, unit) SELECT \(series), timestamp, sampleCount, sum, minimum, maximum, unit FROM temp.cw_rolled")
            try db.execute(sql: "DROP TABLE temp.cw_rolled")
            try db.execute(sql: "INSERT OR REPLACE INTO cw_rollups (bucket, upTo) VALUES (?, ?)", arguments: [bucket, cutoff])
        }
        try db.execute(sql: "DELETE FROM cw_datapoints WHERE timestamp < ?", arguments: [now - kept])
    }
}
