import GRDB
import KumoProtocols
public import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A bucket (`s3_buckets`).
struct BucketRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "s3_buckets"
    var name: String
    var accountId: String
    var region: String
    var created: Date
    /// nil (never enabled), `Enabled` or `Suspended`.
    var versioning: String?
    /// Canned ACL: `private`, `public-read`, ...
    var acl: String
    var objectOwnership: String

    enum Columns {
        static let name = Column(CodingKeys.name)
        static let accountId = Column(CodingKeys.accountId)
    }
}

/// One stored sub-resource of a bucket (website, CORS, policy, tagging, ...), kept
/// as the JSON form of the shape the Put operation received.
struct BucketConfigRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "s3_bucket_configs"
    var bucket: String
    var kind: String
    var body: String
}

/// One version of an object, or a delete marker (`s3_objects`).
struct ObjectRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "s3_objects"
    var id: Int64?
    var bucket: String
    var key: String
    /// `null` for objects written while versioning was off or suspended.
    var versionId: String
    var isLatest: Bool
    var isDeleteMarker: Bool
    var size: Int64
    var etag: String
    var lastModified: Date
    /// The file that holds the bytes, nil for delete markers.
    var blob: String?
    /// Content-Type, Content-Encoding, Cache-Control, ... as the member names of S3's shapes.
    var headers: [String: String]
    /// User metadata (`x-amz-meta-*`), lower-cased names.
    var metadata: [String: String]
    /// Algorithm (`CRC32`, ...) → base64 value.
    var checksums: [String: String]
    var checksumType: String?
    var partsCount: Int?
    /// Part sizes of a multipart object, for GetObject?partNumber and GetObjectAttributes.
    var partSizes: [Int64]?
    var tags: [String: String]
    var acl: String
    var storageClass: String

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let bucket = Column(CodingKeys.bucket)
        static let key = Column(CodingKeys.key)
        static let versionId = Column(CodingKeys.versionId)
        static let isLatest = Column(CodingKeys.isLatest)
        static let isDeleteMarker = Column(CodingKeys.isDeleteMarker)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A multipart upload in progress (`s3_uploads`).
struct UploadRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "s3_uploads"
    var uploadId: String
    var bucket: String
    var key: String
    var initiated: Date
    var headers: [String: String]
    var metadata: [String: String]
    var checksumAlgorithm: String?
    var checksumType: String?
    var tags: [String: String]
    var acl: String
    var storageClass: String

    enum Columns {
        static let bucket = Column(CodingKeys.bucket)
        static let key = Column(CodingKeys.key)
        static let uploadId = Column(CodingKeys.uploadId)
    }
}

/// One uploaded part (`s3_parts`).
struct PartRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "s3_parts"
    var uploadId: String
    var partNumber: Int
    var size: Int64
    var etag: String
    var blob: String
    var lastModified: Date
    var checksums: [String: String]

    enum Columns {
        static let uploadId = Column(CodingKeys.uploadId)
        static let partNumber = Column(CodingKeys.partNumber)
    }
}

extension S3Provider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("s3.v1") { db in
            try db.create(table: "s3_buckets") { t in
                t.primaryKey("name", .text)
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("created", .datetime).notNull()
                t.column("versioning", .text)
                t.column("acl", .text).notNull()
                t.column("objectOwnership", .text).notNull()
            }
            try db.create(table: "s3_bucket_configs") { t in
                t.column("bucket", .text).notNull().references("s3_buckets", onDelete: .cascade)
                t.column("kind", .text).notNull()
                t.column("body", .text).notNull()
                t.primaryKey(["bucket", "kind"])
            }
            try db.create(table: "s3_objects") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("bucket", .text).notNull()
                t.column("key", .text).notNull()
                t.column("versionId", .text).notNull()
                t.column("isLatest", .boolean).notNull()
                t.column("isDeleteMarker", .boolean).notNull()
                t.column("size", .integer).notNull()
                t.column("etag", .text).notNull()
                t.column("lastModified", .datetime).notNull()
                t.column("blob", .text)
                t.column("headers", .text).notNull()
                t.column("metadata", .text).notNull()
                t.column("checksums", .text).notNull()
                t.column("checksumType", .text)
                t.column("partsCount", .integer)
                t.column("partSizes", .text)
                t.column("tags", .text).notNull()
                t.column("acl", .text).notNull()
                t.column("storageClass", .text).notNull()
            }
            try db.create(index: "s3_objects_latest", on: "s3_objects", columns: ["bucket", "isLatest", "key"])
            try db.create(index: "s3_objects_versions", on: "s3_objects", columns: ["bucket", "key", "id"])
            try db.create(table: "s3_uploads") { t in
                t.primaryKey("uploadId", .text)
                t.column("bucket", .text).notNull()
                t.column("key", .text).notNull()
                t.column("initiated", .datetime).notNull()
                t.column("headers", .text).notNull()
                t.column("metadata", .text).notNull()
                t.column("checksumAlgorithm", .text)
                t.column("checksumType", .text)
                t.column("tags", .text).notNull()
                t.column("acl", .text).notNull()
                t.column("storageClass", .text).notNull()
            }
            try db.create(index: "s3_uploads_key", on: "s3_uploads", columns: ["bucket", "key", "initiated"])
            try db.create(table: "s3_parts") { t in
                t.column("uploadId", .text).notNull().references("s3_uploads", onDelete: .cascade)
                t.column("partNumber", .integer).notNull()
                t.column("size", .integer).notNull()
                t.column("etag", .text).notNull()
                t.column("blob", .text).notNull()
                t.column("lastModified", .datetime).notNull()
                t.column("checksums", .text).notNull()
                t.primaryKey(["uploadId", "partNumber"])
            }
        }
    ]

    public static let tables = ["s3_parts", "s3_uploads", "s3_objects", "s3_bucket_configs", "s3_buckets"]
}

/// Read on every request: decoded by hand rather than through Codable.
extension BucketRecord {
    init(row: Row) throws {
        name = row["name"]
        accountId = row["accountId"]
        region = row["region"]
        created = row["created"]
        versioning = row["versioning"]
        acl = row["acl"]
        objectOwnership = row["objectOwnership"]
    }
}

/// Rows of `s3_objects` are read on every GET: decode them by hand, with Kumo's own
/// JSON reader for the map columns, instead of through Codable and JSONDecoder.
extension ObjectRecord {
    init(row: Row) throws {
        id = row["id"]
        bucket = row["bucket"]
        key = row["key"]
        versionId = row["versionId"]
        isLatest = row["isLatest"]
        isDeleteMarker = row["isDeleteMarker"]
        size = row["size"]
        etag = row["etag"]
        lastModified = row["lastModified"]
        blob = row["blob"]
        headers = Self.map(row["headers"])
        metadata = Self.map(row["metadata"])
        checksums = Self.map(row["checksums"])
        checksumType = row["checksumType"]
        partsCount = row["partsCount"]
        let sizes: String? = row["partSizes"]
        partSizes = sizes.flatMap { try? JSONValue.parse($0).array?.compactMap { $0.int.map(Int64.init) } }
        tags = Self.map(row["tags"])
        acl = row["acl"]
        storageClass = row["storageClass"]
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["bucket"] = bucket
        container["key"] = key
        container["versionId"] = versionId
        container["isLatest"] = isLatest
        container["isDeleteMarker"] = isDeleteMarker
        container["size"] = size
        container["etag"] = etag
        container["lastModified"] = lastModified.stored
        container["blob"] = blob
        container["headers"] = Self.text(headers)
        container["metadata"] = Self.text(metadata)
        container["checksums"] = Self.text(checksums)
        container["checksumType"] = checksumType
        container["partsCount"] = partsCount
        container["partSizes"] = partSizesText
        container["tags"] = Self.text(tags)
        container["acl"] = acl
        container["storageClass"] = storageClass
    }

    /// The columns a write sets besides those that identify the row (bucket, key, version id, which
    /// the indexes hold), in the order of `writtenValues`.
    static let writtenColumns = [
        "isLatest", "isDeleteMarker", "size", "etag", "lastModified", "blob", "headers", "metadata", "checksums",
        "checksumType", "partsCount", "partSizes", "tags", "acl", "storageClass",
    ]

    var writtenValues: StatementArguments {
        [
            isLatest, isDeleteMarker, size, etag, lastModified.stored, blob, Self.text(headers), Self.text(metadata),
            Self.text(checksums), checksumType, partsCount, partSizesText, Self.text(tags), acl, storageClass,
        ]
    }

    var partSizesText: String? { partSizes.map { JSONValue.array($0.map { .number(String($0)) }).serialized() } }

    static let insertSQL =
        "INSERT INTO s3_objects (bucket, key, versionId, " + writtenColumns.joined(separator: ", ") + ") VALUES ("
        + Array(repeating: "?", count: writtenColumns.count + 3).joined(separator: ", ") + ")"
    static let updateSQL = "UPDATE s3_objects SET " + writtenColumns.map { $0 + " = ?" }.joined(separator: ", ") + " WHERE id = ?"

    /// Inserts the row with a cached statement (GRDB's `insert` builds its statement and a
    /// container of the values for every call) and takes the new id.
    /// `values`: this record's `writtenValues`, computed before the transaction.
    mutating func insertRow(_ db: Database, values: StatementArguments) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(arguments: [bucket, key, versionId] + values)
        id = db.lastInsertedRowID
    }

    /// Rewrites the row `id` names with every column but the ones that identify it.
    func updateRow(_ db: Database, values: StatementArguments) throws {
        try db.cachedStatement(sql: Self.updateSQL).execute(arguments: values + [id])
    }

    static func map(_ text: String?) -> [String: String] {
        guard let text, let pairs = try? JSONValue.parse(text).object else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in pairs { out[k] = v.string ?? "" }
        return out
    }

    static func text(_ map: [String: String]) -> String { JSONValue.text(sortedMap: map) }
}
