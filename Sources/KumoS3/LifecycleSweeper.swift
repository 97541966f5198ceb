import GRDB
import KumoCore
import KumoProtocols
import KumoStore
public import ServiceLifecycle
public import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Applies buckets' lifecycle rules: expires current objects, removes noncurrent
/// versions and lone delete markers, aborts stale multipart uploads.
///
/// AWS runs lifecycle about once a day and counts days from creation; here a day is
/// 86,400 seconds scaled by `--time-scale`, and the sweep runs every ten scaled
/// minutes (at least every 0.2 s, at most every minute), so demos and tests see
/// rules act in seconds.
public struct LifecycleSweeper: Service {
    let provider: S3Provider
    let s3: S3
    let logger: Logger
    let started: Date

    public init(provider: S3Provider, logger: Logger) {
        self.provider = provider
        s3 = provider.s3
        self.logger = logger
        started = Date()
    }

    public func run() async throws {
        // First, the files an interrupted write left behind (off the start-up path, so Kumo is ready at once).
        if let orphans = try? await provider.recover(before: started), orphans > 0 {
            logger.info("removed \(orphans) unreferenced S3 object files left by an interrupted write")
        }
        let interval = min(max(s3.clock.duration(awsSeconds: 600), .milliseconds(200)), .seconds(60))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                    let n = try await sweep()
                    if n > 0 { logger.info("lifecycle rules removed \(n) object versions or uploads") }
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("lifecycle sweep failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// The age of something in AWS days, under the time scale.
    func days(since date: Date) -> Double {
        s3.clock.now.timeIntervalSince(date) / s3.clock.timeScale / 86_400
    }

    struct Rule {
        var prefix: String
        var tags: [String: String]
        var minSize: Int64?
        var maxSize: Int64?
        var expirationDays: Double?
        var expirationDate: Date?
        var expiredDeleteMarkers: Bool
        var noncurrentDays: Double?
        var abortDays: Double?

        init?(_ v: ShapeValue) {
            guard v["Status"]?.string == "Enabled" else { return nil }
            let filter = v["Filter"]
            let and = filter?["And"]
            prefix = and?["Prefix"]?.string ?? filter?["Prefix"]?.string ?? v["Prefix"]?.string ?? ""
            var tags: [String: String] = [:]
            for t in (and?["Tags"]?.list ?? []) + [filter?["Tag"]].compactMap({ $0 }) {
                if let k = t["Key"]?.string { tags[k] = t["Value"]?.string ?? "" }
            }
            self.tags = tags
            minSize = (and?["ObjectSizeGreaterThan"] ?? filter?["ObjectSizeGreaterThan"])?.int.map(Int64.init)
            maxSize = (and?["ObjectSizeLessThan"] ?? filter?["ObjectSizeLessThan"])?.int.map(Int64.init)
            expirationDays = v["Expiration"]?["Days"]?.double
            expirationDate = v["Expiration"]?["Date"]?.date
            expiredDeleteMarkers = v["Expiration"]?["ExpiredObjectDeleteMarker"]?.bool ?? false
            noncurrentDays = v["NoncurrentVersionExpiration"]?["NoncurrentDays"]?.double
            abortDays = v["AbortIncompleteMultipartUpload"]?["DaysAfterInitiation"]?.double
        }

        func matches(_ row: ObjectRecord) -> Bool {
            guard row.key.hasPrefix(prefix) else { return false }
            for (k, v) in tags where row.tags[k] != v { return false }
            if let minSize, row.size <= minSize { return false }
            if let maxSize, row.size >= maxSize { return false }
            return true
        }
    }

    /// One pass over every bucket with lifecycle rules; returns how much it removed.
    func sweep() async throws -> Int {
        let configs = try await s3.store.read { db in
            try BucketConfigRecord.fetchAll(db, sql: "SELECT * FROM s3_bucket_configs WHERE kind = 'lifecycle'")
        }
        var removed = 0
        for config in configs {
            let value = ShapeValue(storageJSON: try JSONValue.parse(config.body))
            for rule in (value["Rules"]?.list ?? []).compactMap(Rule.init) {
                removed += try await apply(rule, bucket: config.bucket)
            }
        }
        return removed
    }

    func apply(_ rule: Rule, bucket: String) async throws -> Int {
        var removed = 0
        let now = s3.clock.now
        let rows = try await s3.store.read { db in
            try ObjectRecord.fetchAll(
                db, sql: "SELECT * FROM s3_objects WHERE bucket = ? AND key >= ? ORDER BY key, id DESC", arguments: [bucket, rule.prefix])
        }.filter { $0.key.hasPrefix(rule.prefix) }
        var newer: [String: ObjectRecord] = [:]
        var versionsPerKey: [String: Int] = [:]
        for row in rows { versionsPerKey[row.key, default: 0] += 1 }
        for row in rows {
            defer { newer[row.key] = row }
            if row.isLatest && !row.isDeleteMarker && rule.matches(row) {
                let expired = rule.expirationDays.map { days(since: row.lastModified) >= $0 } ?? false
                    || rule.expirationDate.map { now >= $0 } ?? false
                if expired {
                    _ = try await s3.delete(bucket: bucket, key: row.key, versionId: nil)
                    removed += 1
                }
            } else if row.isLatest && row.isDeleteMarker && rule.expiredDeleteMarkers && versionsPerKey[row.key] == 1 {
                _ = try await s3.delete(bucket: bucket, key: row.key, versionId: row.versionId)
                removed += 1
            } else if !row.isLatest, let limit = rule.noncurrentDays, let successor = newer[row.key],
                days(since: successor.lastModified) >= limit, rule.tags.isEmpty || rule.matches(row)
            {
                // A version becomes noncurrent when the next one is written.
                _ = try await s3.delete(bucket: bucket, key: row.key, versionId: row.versionId)
                removed += 1
            }
        }
        if let limit = rule.abortDays {
            let uploads = try await s3.store.read { db in
                try UploadRecord.filter(UploadRecord.Columns.bucket == bucket).fetchAll(db)
            }
            for upload in uploads where upload.key.hasPrefix(rule.prefix) && days(since: upload.initiated) >= limit {
                let blobs = try await s3.store.write { db -> [String] in
                    let parts = try PartRecord.filter(PartRecord.Columns.uploadId == upload.uploadId).fetchAll(db)
                    _ = try UploadRecord.deleteOne(db, key: upload.uploadId)
                    return parts.map(\.blob)
                }
                await s3.blobs.remove(blobs)
                removed += 1
            }
        }
        return removed
    }
}
