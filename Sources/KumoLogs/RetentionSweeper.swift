import GRDB
import KumoCore
import KumoStore
public import Logging
public import ServiceLifecycle

/// Applies log groups' retention (PutRetentionPolicy): events older than the group's retention
/// are deleted, and their streams' stored bytes and first event follow. A day is 86,400 seconds
/// scaled by `--time-scale`; the sweep runs every ten scaled minutes (at least every 0.2 s, at
/// most every minute), as S3's lifecycle rules do. Groups without a policy keep their events,
/// as on AWS.
public struct RetentionSweeper: Service {
    let logs: Logs
    let logger: Logger
    /// Events deleted per transaction, so a large backlog never holds the store's writer for long.
    static let batch = 5_000

    public func run() async throws {
        let interval = min(max(logs.clock.duration(awsSeconds: 600), .milliseconds(200)), .seconds(60))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                    let n = try await sweep()
                    if n > 0 { logger.info("log group retention removed \(n) events") }
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("log retention sweep failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Deletes the events every policy has expired; how many.
    func sweep() async throws -> Int {
        let now = logs.nowMillis
        let scale = logs.clock.timeScale
        let groups = try await logs.store.read { db in try GroupRecord.filter(Column("retentionDays") != nil).fetchAll(db) }
        var removed = 0
        for group in groups {
            let cutoff = now - Int64(Double(group.retentionDays ?? 0) * 86_400_000 * scale)
            while true {
                let n = try await logs.store.write { db in try Self.expire(db, group, before: cutoff, limit: Self.batch) }
                removed += n
                if n < Self.batch { break }
            }
        }
        return removed
    }

    /// Deletes up to `limit` of the group's events with timestamps before `cutoff`, and brings
    /// the streams they were in up to date.
    static func expire(_ db: Database, _ group: GroupRecord, before cutoff: Int64, limit: Int) throws -> Int {
        let key: StatementArguments = [group.accountId, group.region, group.name]
        let old = "SELECT id FROM logs_events WHERE accountId = ? AND region = ? AND groupName = ? AND timestamp < ? ORDER BY timestamp LIMIT ?"
        let streams = try Row.fetchAll(
            db, sql: "SELECT streamName, SUM(LENGTH(CAST(message AS BLOB)) + 26) AS bytes FROM logs_events WHERE id IN (\(old)) GROUP BY streamName",
            arguments: key + [cutoff, limit])
        guard !streams.isEmpty else { return 0 }
        try db.execute(sql: "DELETE FROM logs_events WHERE id IN (\(old))", arguments: key + [cutoff, limit])
        let removed = db.changesCount
        for row in streams {
            let stream: String = row["streamName"]
            let bytes: Int64 = row["bytes"]
            try db.execute(
                sql: """
                    UPDATE logs_streams SET storedBytes = MAX(0, storedBytes - ?),
                      firstEvent = (SELECT MIN(timestamp) FROM logs_events WHERE accountId = ? AND region = ? AND groupName = ? AND streamName = ?)
                    WHERE accountId = ? AND region = ? AND groupName = ? AND name = ?
                    """,
                arguments: [bytes] + key + [stream] + key + [stream])
        }
        return removed
    }
}

extension LogsProvider {
    /// The service that applies retention policies.
    public func retentionSweeper(logger: Logger) -> RetentionSweeper { RetentionSweeper(logs: logs, logger: logger) }
}
