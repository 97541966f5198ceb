import GRDB
import KumoCore
import KumoProtocols
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KumoStore

extension S3 {
    struct Deletion: Sendable {
        var versionId: String?
        var deleteMarker: Bool
    }

    func deleteObject(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        let versionId = call.string("VersionId")
        try authorize(call, bucket, access, action: versionId == nil ? "s3:DeleteObject" : "s3:DeleteObjectVersion", key: call.key)
        let result = try await delete(bucket: bucket.name, key: call.key, versionId: versionId, ifMatch: call.string("IfMatch"))
        await publish(
            .init(name: result.deleteMarker && versionId == nil ? "ObjectRemoved:DeleteMarkerCreated" : "ObjectRemoved:Delete", key: call.key, versionId: result.versionId),
            bucket: bucket.name, context: call.context)
        var out: [String: ShapeValue] = [:]
        if result.deleteMarker { out["DeleteMarker"] = true }
        if let v = result.versionId { out["VersionId"] = .string(v) }
        return .structure(out)
    }

    /// Deletes a key as S3 does under each versioning state.
    func delete(bucket name: String, key: String, versionId: String?, ifMatch: String? = nil) async throws -> Deletion {
        let now = clock.now
        let blobs = self.blobs
        let result = try await store.write { db -> Deletion in
            let (deletion, orphaned) = try Self.deleteInTransaction(db, bucket: name, key: key, versionId: versionId, ifMatch: ifMatch, now: now)
            blobs.removeAfterCommit(orphaned, in: db)
            return deletion
        }
        return result
    }

    static func deleteInTransaction(
        _ db: Database, bucket name: String, key: String, versionId: String?, ifMatch: String?, now: Date
    ) throws -> (Deletion, [String]) {
        guard let bucket = try BucketRecord.fetchOne(db, key: name) else { throw AWSError.noSuchBucket(name) }
        if let versionId {
            guard let row = try Self.fetchObject(db, bucket: name, key: key, versionId: versionId) else {
                guard versionId == "null" || versionId.count == 32 else {
                    throw AWSError.s3InvalidArgument("Invalid version id specified", name: "versionId", value: versionId)
                }
                return (Deletion(versionId: versionId, deleteMarker: false), [])
            }
            try Self.removeVersion(db, row)
            return (Deletion(versionId: versionId, deleteMarker: row.isDeleteMarker), row.blob.map { [$0] } ?? [])
        }
        let current = try Self.fetchObject(db, bucket: name, key: key, versionId: nil)
        if let ifMatch {
            guard let current, !current.isDeleteMarker else { throw AWSError.noSuchKey(key) }
            guard Self.etagMatches(ifMatch, current.etag) else { throw AWSError.preconditionFailed("If-Match") }
        }
        var orphaned: [String] = []
        if bucket.versioning != "Enabled", let old = try Self.fetchObject(db, bucket: name, key: key, versionId: "null") {
            if let blob = old.blob { orphaned.append(blob) }
            _ = try old.delete(db)
        }
        guard bucket.versioning != nil else { return (Deletion(versionId: nil, deleteMarker: false), orphaned) }
        try db.execute(sql: "UPDATE s3_objects SET isLatest = 0 WHERE bucket = ? AND key = ? AND isLatest = 1", arguments: [name, key])
        var marker = ObjectRecord(
            id: nil, bucket: name, key: key, versionId: bucket.versioning == "Enabled" ? Self.newVersionId() : "null",
            isLatest: true, isDeleteMarker: true, size: 0, etag: "", lastModified: now, blob: nil, headers: [:], metadata: [:],
            checksums: [:], checksumType: nil, partsCount: nil, partSizes: nil, tags: [:], acl: "private", storageClass: "STANDARD")
        try marker.insert(db)
        return (Deletion(versionId: marker.versionId, deleteMarker: true), orphaned)
    }

    func deleteObjects(_ call: OperationCall) async throws -> ShapeValue {
        try Self.verifyBodyIntegrity(call, required: true)
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        let objects = call.input["Delete"]?["Objects"]?.list ?? []
        guard !objects.isEmpty, objects.count <= 1000 else { throw AWSError.malformedXML() }
        let quiet = call.input["Delete"]?["Quiet"]?.bool ?? false
        var deleted: [ShapeValue] = []
        var errors: [ShapeValue] = []
        for object in objects {
            let key = object["Key"]?.string ?? ""
            let versionId = object["VersionId"]?.string
            do {
                try Self.checkKey(key)
                try authorize(call, bucket, access, action: versionId == nil ? "s3:DeleteObject" : "s3:DeleteObjectVersion", key: key)
                let result = try await delete(bucket: bucket.name, key: key, versionId: versionId, ifMatch: object["ETag"]?.string)
                await publish(
                    .init(name: result.deleteMarker && versionId == nil ? "ObjectRemoved:DeleteMarkerCreated" : "ObjectRemoved:Delete", key: key, versionId: result.versionId),
                    bucket: bucket.name, context: call.context)
                guard !quiet else { continue }
                var entry: [String: ShapeValue] = ["Key": .string(key)]
                if let versionId { entry["VersionId"] = .string(versionId) }
                if result.deleteMarker {
                    entry["DeleteMarker"] = true
                    if versionId == nil, let v = result.versionId { entry["DeleteMarkerVersionId"] = .string(v) }
                }
                deleted.append(.structure(entry))
            } catch let e as AWSError {
                var entry: [String: ShapeValue] = ["Key": .string(key), "Code": .string(e.code), "Message": .string(e.message)]
                if let versionId { entry["VersionId"] = .string(versionId) }
                errors.append(.structure(entry))
            }
        }
        var out: [String: ShapeValue] = [:]
        if !deleted.isEmpty { out["Deleted"] = .list(deleted) }
        if !errors.isEmpty { out["Errors"] = .list(errors) }
        return .structure(out)
    }
}
