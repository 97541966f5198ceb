import GRDB
import KumoStore
import Testing

@testable import KumoCloudWatch

@Suite struct RetentionTests {
    static let hour = 3600.0, day = 86400.0

    func database() throws -> DatabaseQueue {
        let db = try DatabaseQueue()
        try db.write { db in for m in CloudWatchProvider.migrations { try m.migrate(db) } }
        return db
    }

    func put(_ db: Database, _ t: Double, _ value: Double, metric: String = "Latency") throws {
        try DatapointRecord(
            accountId: "000000000000", region: "us-east-1", namespace: "App", name: metric, dimensions: "", timestamp: t,
            sampleCount: 1, sum: value, minimum: value, maximum: value, unit: nil
        ).insert(db)
    }

    func rows(_ db: Database, metric: String = "Latency") throws -> [DatapointRecord] {
        try DatapointRecord.filter(Column("name") == metric).order(Column("timestamp")).fetchAll(db)
    }

    @Test func secondDataBecomesMinuteSetsAfterThreeHours() throws {
        let now = 1_800_000_000.0  // a whole minute
        let queue = try database()
        try queue.write { db in
            // Four points in one minute just over 3 hours ago, two in the minute after, and two recent ones.
            let old = now - 3 * Self.hour - 120
            for (i, v) in [5.0, 1, 9, 3].enumerated() { try put(db, old + Double(i) * 10, v) }
            for (i, v) in [7.0, 8].enumerated() { try put(db, old + 60 + Double(i), v) }
            for (i, v) in [2.0, 4].enumerated() { try put(db, now - Self.hour + Double(i), v) }
            try Retention.apply(db, now: now)
            let kept = try rows(db)
            #expect(kept.map(\.timestamp) == [old, old + 60, now - Self.hour, now - Self.hour + 1])
            #expect(kept[0].sampleCount == 4 && kept[0].sum == 18 && kept[0].minimum == 1 && kept[0].maximum == 9)
            #expect(kept[1].sampleCount == 2 && kept[1].sum == 15)
            // A second pass changes nothing, and the recent data stays at its own resolution.
            try Retention.apply(db, now: now)
            #expect(try rows(db).map(\.sampleCount) == [4, 2, 1, 1])
        }
    }

    @Test func olderTiersRollUpAndTheOldestIsDropped() throws {
        let now = 1_800_000_000.0
        let queue = try database()
        try queue.write { db in
            let weeksAgo = now - 16 * Self.day - 3600  // on an hour boundary: its five-minute buckets start there
            for i in 0..<10 { try put(db, weeksAgo + Double(i) * 60, Double(i), metric: "Old") }
            let monthsAgo = now - 64 * Self.day - 7200
            for i in 0..<10 { try put(db, monthsAgo + Double(i) * 300, 1, metric: "Older") }
            try put(db, now - 456 * Self.day, 1, metric: "Ancient")
            try Retention.apply(db, now: now)
            #expect(try rows(db, metric: "Old").map(\.sampleCount) == [5, 5])
            #expect(try rows(db, metric: "Older").map(\.sampleCount) == [10])
            #expect(try rows(db, metric: "Ancient").isEmpty)
        }
    }

    @Test func lateDataOlderThanThreeHoursIsStoredAtItsMinute() {
        let now = 1_800_000_000.0
        #expect(Retention.storedTimestamp(now - 4 * Self.hour + 42, now: now) == now - 4 * Self.hour)
        #expect(Retention.storedTimestamp(now - 100.5, now: now) == now - 100.5)
    }
}
