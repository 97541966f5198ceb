public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB
public import Logging
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Amazon S3: buckets and objects, with object bytes in files under the data dir
/// and everything else in the store.
public struct S3Provider: ServiceProvider {
    public let service = "s3"
    public let validatesInput = false
    public let operations: [String: OperationHandler]
    let s3: S3

    /// - Parameter queues: where bucket notifications go (SQS), when a queue service runs.
    public init(
        store: Store, clock: KumoClock, syncWrites: Bool = true, queues: (any QueueDelivery)? = nil,
        logger: Logger = Logger(label: "kumo.s3")
    ) throws {
        let blobs = try BlobStore(root: store.directory + "/s3", syncWrites: syncWrites)
        s3 = S3(store: store, blobs: blobs, clock: clock, queues: queues, logger: logger)
        operations = s3.operationTable()
    }

    /// Removes blob files no row refers to, older than `before` (left by a crash between writing
    /// a file and committing its row; newer files may belong to uploads in flight).
    public func recover(before: Date) async throws -> Int {
        let referenced = try await s3.store.read { db in
            Set(try String.fetchAll(db, sql: "SELECT blob FROM s3_objects WHERE blob IS NOT NULL UNION SELECT blob FROM s3_parts"))
        }
        return s3.blobs.removeUnreferenced(keeping: referenced, before: before)
    }

    public func reset() async throws {
        try await s3.store.clear(tables: Self.tables)
        s3.blobs.dropSpares()
        s3.bucketCache.invalidate(nil)
        _ = try await recover(before: s3.clock.now.addingTimeInterval(1))
    }

    /// The static-website endpoint (`<bucket>.s3-website.localhost`), served beside the API.
    public var website: S3Website { S3Website(s3: s3) }
}

/// The S3 engine the operations share.
struct S3: Sendable {
    let store: Store
    let blobs: BlobStore
    let clock: KumoClock
    let queues: (any QueueDelivery)?
    let logger: Logger
    let bucketCache = BucketCache()

    /// A write that changes a bucket's settings; the cached settings are dropped after it.
    func writeBucket<T: Sendable>(_ name: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        defer { bucketCache.invalidate(name) }
        return try await store.write(body)
    }

    func operationTable() -> [String: OperationHandler] {
        var t = OperationHandler.table(self, [
            "CreateBucket": S3.createBucket,
            "HeadBucket": S3.headBucket,
            "DeleteBucket": S3.deleteBucket,
            "ListBuckets": S3.listBuckets,
            "GetBucketLocation": S3.getBucketLocation,
            "PutBucketVersioning": S3.putBucketVersioning,
            "GetBucketVersioning": S3.getBucketVersioning,
            "GetBucketAcl": S3.getBucketAcl,
            "PutBucketAcl": S3.putBucketAcl,
            "PutObject": S3.putObject,
            "GetObject": S3.getObject,
            "HeadObject": S3.headObject,
            "DeleteObject": S3.deleteObject,
            "DeleteObjects": S3.deleteObjects,
            "CopyObject": S3.copyObject,
            "GetObjectAttributes": S3.getObjectAttributes,
            "GetObjectAcl": S3.getObjectAcl,
            "PutObjectAcl": S3.putObjectAcl,
            "GetObjectTagging": S3.getObjectTagging,
            "PutObjectTagging": S3.putObjectTagging,
            "DeleteObjectTagging": S3.deleteObjectTagging,
            "ListObjectsV2": S3.listObjectsV2,
            "ListObjects": S3.listObjects,
            "ListObjectVersions": S3.listObjectVersions,
            "CreateMultipartUpload": S3.createMultipartUpload,
            "UploadPart": S3.uploadPart,
            "UploadPartCopy": S3.uploadPartCopy,
            "CompleteMultipartUpload": S3.completeMultipartUpload,
            "AbortMultipartUpload": S3.abortMultipartUpload,
            "ListParts": S3.listParts,
            "ListMultipartUploads": S3.listMultipartUploads,
        ])
        for config in BucketConfigKind.all {
            let s3 = self
            t["Put" + config.operation] = OperationHandler { call in try await s3.putBucketConfig(call, config) }
            t["Get" + config.operation] = OperationHandler { call in try await s3.getBucketConfig(call, config) }
            if config.deletable {
                t["Delete" + config.deleteOperation] = OperationHandler { call in try await s3.deleteBucketConfig(call, config) }
            }
        }
        return t
    }
}

extension OperationCall {
    func string(_ member: String) -> String? { input[member]?.string }
    var bucket: String { string("Bucket") ?? "" }
    var key: String { string("Key") ?? "" }
}
