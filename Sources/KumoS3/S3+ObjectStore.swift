import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Conditions a write must meet at the moment it commits (`If-None-Match: *`, `If-Match`).
struct WriteConditions: Sendable {
    var ifNoneMatch: String?
    var ifMatch: String?

    init(_ call: OperationCall) throws {
        ifNoneMatch = call.string("IfNoneMatch")
        ifMatch = call.string("IfMatch")
        if let n = ifNoneMatch, n != "*" {
            throw AWSError(
                code: "NotImplemented", message: "A header you provided implies functionality that is not implemented", status: 501,
                fields: [.init("Header", "If-None-Match")])
        }
    }

    func check(current: ObjectRecord?, key: String) throws {
        try check(liveETag: current.flatMap { $0.isDeleteMarker ? nil : $0.etag }, key: key)
    }

    /// `liveETag`: the ETag of the key's latest version, nil when there is none or it is a delete marker.
    func check(liveETag: String?, key: String) throws {
        if ifNoneMatch == "*", liveETag != nil { throw AWSError.preconditionFailed("If-None-Match") }
        if let ifMatch {
            guard let liveETag else { throw AWSError.noSuchKey(key) }
            if !S3.etagMatches(ifMatch, liveETag) { throw AWSError.preconditionFailed("If-Match") }
        }
    }
}

/// What a write needs of a version it replaces or demotes: the columns of `s3_objects` that are
/// not maps, so no JSON is parsed on the writer's thread.
struct ObjectVersionHead: Sendable {
    var id: Int64
    var versionId: String
    var isLatest: Bool
    var isDeleteMarker: Bool
    var etag: String
    var blob: String?

    static let columns = "id, versionId, isLatest, isDeleteMarker, etag, blob"

    init(row: Row) {
        id = row[0]
        versionId = row[1]
        isLatest = row[2]
        isDeleteMarker = row[3]
        etag = row[4]
        blob = row[5]
    }

    /// The latest version of a key (possibly a delete marker), or its `null` version.
    static func fetch(_ db: Database, bucket: String, key: String, nullVersion: Bool) throws -> ObjectVersionHead? {
        let statement = nullVersion
            ? try db.cachedStatement(sql: "SELECT \(columns) FROM s3_objects WHERE bucket = ? AND key = ? AND versionId = 'null'")
            : try db.cachedStatement(sql: "SELECT \(columns) FROM s3_objects WHERE bucket = ? AND isLatest = 1 AND key = ?")
        return try firstRow(statement, [bucket, key], ObjectVersionHead.init)
    }
}

/// What `read` makes of the first row of a query, or nil when there is none: read from the
/// cursor's row, without the copy `fetchOne` makes (that row is the statement's, valid while the
/// cursor lives).
func firstRow<T>(_ statement: Statement, _ arguments: StatementArguments, _ read: (Row) throws -> T) throws -> T? {
    let cursor = try Row.fetchCursor(statement, arguments: arguments)
    guard let row = try cursor.next() else { return nil }
    return try withExtendedLifetime(cursor) { try read(row) }
}

extension S3 {
    /// Members of the object shapes that S3 stores and returns as they were sent.
    static let storedHeaders = [
        "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "ContentType", "Expires", "WebsiteRedirectLocation",
    ]

    static func newVersionId() -> String { ResourceID.token(length: 32) }

    static func etagMatches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { item in
            var t = Substring(item)
            while t.first == " " { t = t.dropFirst() }
            while t.last == " " { t = t.dropLast() }
            if t.hasPrefix("W/") { t = t.dropFirst(2) }
            return t == "*" || t == etag || "\"" + t + "\"" == etag
        }
    }

    static func checkKey(_ key: String) throws {
        let n = key.utf8.count
        guard n <= 1024 else { throw AWSError.keyTooLong(n) }
        guard n > 0 else { throw AWSError(code: "InvalidArgument", message: "Key must not be empty") }
    }

    /// The latest row of a key (possibly a delete marker), or a given version.
    static func fetchObject(_ db: Database, bucket: String, key: String, versionId: String?) throws -> ObjectRecord? {
        if let versionId {
            return try ObjectRecord.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM s3_objects WHERE bucket = ? AND key = ? AND versionId = ?"),
                arguments: [bucket, key, versionId])
        }
        return try ObjectRecord.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM s3_objects WHERE bucket = ? AND isLatest = 1 AND key = ?"), arguments: [bucket, key])
    }

    /// Makes `record` the newest version of its key, following the bucket's versioning
    /// state; returns the stored row and the blobs no longer referenced.
    /// `alsoInTransaction` runs in the same transaction (completing a multipart upload
    /// removes the upload atomically with creating the object) and returns blobs to remove.
    func commit(
        _ record: ObjectRecord, conditions: WriteConditions?,
        alsoInTransaction: (@Sendable (Database) throws -> [String])? = nil
    ) async throws -> ObjectRecord {
        let blobs = self.blobs
        let latest = { var row = record; row.isLatest = true; return row }()
        // The row's values, encoded before the transaction: the writer is held for less time.
        let values = latest.writtenValues
        let write: @Sendable (Database) throws -> (ObjectRecord, [String]) = { db in
            var record = latest
            // The bucket's versioning state (nil: never enabled); no row: the bucket is gone.
            let bucket = try firstRow(db.cachedStatement(sql: "SELECT versioning FROM s3_buckets WHERE name = ?"), [record.bucket]) { row in
                row[0] as String?
            }
            guard let versioning = bucket else { throw AWSError.noSuchBucket(record.bucket) }
            let current = try ObjectVersionHead.fetch(db, bucket: record.bucket, key: record.key, nullVersion: false)
            try conditions?.check(liveETag: current.flatMap { $0.isDeleteMarker ? nil : $0.etag }, key: record.key)
            var orphaned: [String] = try alsoInTransaction?(db) ?? []
            var latestRemains = current != nil
            if versioning == "Enabled" {
                record.versionId = Self.newVersionId()
            } else {
                record.versionId = "null"
                // The null version is replaced; often it is the latest, already read. Then its row
                // is rewritten in place: the latest version has the highest id of its key, so the
                // order of versions stays, and no indexed column changes (one page written, not
                // a row deleted and one inserted in the table and both indexes).
                if let current, current.versionId == "null" {
                    if let blob = current.blob { orphaned.append(blob) }
                    record.id = current.id
                    try record.updateRow(db, values: values)
                    return (record, orphaned)
                }
                let null = try ObjectVersionHead.fetch(db, bucket: record.bucket, key: record.key, nullVersion: true)
                if let null {
                    if let blob = null.blob { orphaned.append(blob) }
                    try db.cachedStatement(sql: "DELETE FROM s3_objects WHERE id = ?").execute(arguments: [null.id])
                    if null.isLatest { latestRemains = false }
                }
            }
            if latestRemains {
                try db.cachedStatement(sql: "UPDATE s3_objects SET isLatest = 0 WHERE bucket = ? AND key = ? AND isLatest = 1")
                    .execute(arguments: [record.bucket, record.key])
            }
            try record.insertRow(db, values: values)
            return (record, orphaned)
        }
        let retire: @Sendable ((ObjectRecord, [String])) -> Void = { blobs.retire($0.1) }
        // A short transaction: on this thread when the writer is idle (see `Store.writeNowIfIdle`).
        if let (stored, _) = try store.writeNowIfIdle(write, afterCommit: retire) { return stored }
        return try await store.write(write, afterCommit: retire).0
    }

    /// Removes one version; when it was the latest, the next newest becomes latest.
    static func removeVersion(_ db: Database, _ row: ObjectRecord) throws {
        _ = try row.delete(db)
        if row.isLatest {
            try db.execute(
                sql: """
                    UPDATE s3_objects SET isLatest = 1 WHERE id = (
                      SELECT id FROM s3_objects WHERE bucket = ? AND key = ? ORDER BY id DESC LIMIT 1)
                    """, arguments: [row.bucket, row.key])
        }
    }

    /// Checksums to compute for an upload: the algorithm the client names, the checksum
    /// headers or trailer it sends, or S3's default (CRC64NVME).
    static func requestedChecksums(_ call: OperationCall) throws -> [ChecksumAlgorithm] {
        var out: [ChecksumAlgorithm] = []
        if let name = call.string("ChecksumAlgorithm") {
            guard let a = ChecksumAlgorithm(caseInsensitive: name) else {
                throw AWSError(code: "InvalidRequest", message: "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
            }
            out.append(a)
        }
        for a in ChecksumAlgorithm.allCases where call.request.header(a.header) != nil && !out.contains(a) { out.append(a) }
        if let trailer = call.request.header("x-amz-trailer")?.lowercased() {
            for a in ChecksumAlgorithm.allCases where trailer.contains(a.header) && !out.contains(a) { out.append(a) }
        }
        if out.isEmpty { out.append(.crc64nvme) }
        return out
    }

    /// Checks what was received against Content-MD5 and the checksums the client sent.
    static func verifyIntegrity(_ call: OperationCall, written: BlobStore.Written, trailers: ByteStream.Trailers?) throws {
        if let md5 = call.request.header("Content-MD5") {
            guard let given = Data(base64Encoded: md5), given.count == 16 else { throw AWSError.invalidDigest() }
            guard Array(given) == written.md5 else { throw AWSError.badDigest() }
        }
        for (algorithm, value) in written.checksums {
            guard let given = call.request.header(algorithm.header) ?? trailers?.value(algorithm.header) else { continue }
            guard algorithm.isWellFormed(given) else {
                throw AWSError(code: "InvalidRequest", message: "Value for \(algorithm.header) header is invalid.")
            }
            guard given == value else {
                throw AWSError.badDigest("The \(algorithm.rawValue) you specified did not match the calculated checksum.")
            }
        }
    }

    /// Checks Content-MD5 and checksum headers of a request whose body was read whole (DeleteObjects, ...).
    static func verifyBodyIntegrity(_ call: OperationCall, required: Bool) throws {
        var any = false
        if let md5 = call.request.header("Content-MD5") {
            any = true
            guard let given = Data(base64Encoded: md5), given.count == 16 else { throw AWSError.invalidDigest() }
            guard Hashing.md5Hex(call.request.body) == Hashing.hex(given) else { throw AWSError.badDigest() }
        }
        for a in ChecksumAlgorithm.allCases {
            guard let given = call.request.header(a.header) else { continue }
            any = true
            var h = ChecksumHasher(a)
            h.update(call.request.body)
            guard h.base64() == given else { throw AWSError.badDigest("The \(a.rawValue) you specified did not match the calculated checksum.") }
        }
        if required && !any {
            throw AWSError(code: "InvalidRequest", message: "Missing required header for this request: Content-MD5")
        }
    }

    /// Tags from an `x-amz-tagging` header (`k1=v1&k2=v2`).
    static func tags(header: String?) throws -> [String: String] {
        guard let header, !header.isEmpty else { return [:] }
        var tags: [String: String] = [:]
        for (k, v) in FormEncoding.decode(Substring(header)) {
            guard tags[k] == nil else { throw AWSError(code: "InvalidTag", message: "Cannot provide multiple Tags with the same key") }
            tags[k] = v
        }
        guard tags.count <= 10 else { throw AWSError(code: "BadRequest", message: "Object tags cannot be greater than 10") }
        return tags
    }

    static func quotedETag(md5: [UInt8]) -> String { "\"" + Hashing.hex(md5) + "\"" }
}
