import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension S3 {
    func getObjectTagging(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, row) = try await readableObject(call, action: "s3:GetObjectTagging")
        var out: [String: ShapeValue] = ["TagSet": Self.tagSet(row.tags)]
        if bucket.versioning != nil { out["VersionId"] = .string(row.versionId) }
        return .structure(out)
    }

    func putObjectTagging(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, row) = try await readableObject(call, action: "s3:PutObjectTagging")
        let tags = try Self.tags(from: call.input["Tagging"]?["TagSet"])
        guard tags.count <= 10 else { throw AWSError(code: "BadRequest", message: "Object tags cannot be greater than 10") }
        try await updateRow(row) { $0.tags = tags }
        return bucket.versioning != nil ? ["VersionId": .string(row.versionId)] : .empty
    }

    func deleteObjectTagging(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, row) = try await readableObject(call, action: "s3:DeleteObjectTagging")
        try await updateRow(row) { $0.tags = [:] }
        return bucket.versioning != nil ? ["VersionId": .string(row.versionId)] : .empty
    }

    func getObjectAcl(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, row) = try await readableObject(call, action: "s3:GetObjectAcl")
        return aclOutput(owner: bucket.accountId, canned: row.acl)
    }

    func putObjectAcl(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, row) = try await readableObject(call, action: "s3:PutObjectAcl")
        let (_, access) = try await bucketAndAccess(bucket.name)
        let acl = try cannedACL(call, bucket: bucket, access: access) ?? "private"
        try await updateRow(row) { $0.acl = acl }
        return .empty
    }

    func updateRow(_ row: ObjectRecord, _ change: @escaping @Sendable (inout ObjectRecord) -> Void) async throws {
        try await store.write { db in
            guard var current = try ObjectRecord.fetchOne(db, key: row.id) else { throw AWSError.noSuchKey(row.key) }
            change(&current)
            try current.update(db)
        }
    }

    func getObjectAttributes(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, row) = try await readableObject(call, action: "s3:GetObjectAttributes")
        let wanted = Set((call.input["ObjectAttributes"]?.list ?? []).compactMap(\.string))
        guard !wanted.isEmpty else {
            throw AWSError.s3InvalidArgument("Invalid attribute name specified.", name: "x-amz-object-attributes", value: "")
        }
        var out: [String: ShapeValue] = ["LastModified": .timestamp(row.lastModified)]
        if bucket.versioning != nil { out["VersionId"] = .string(row.versionId) }
        if wanted.contains("ETag") { out["ETag"] = .string(String(row.etag.filter { $0 != "\"" })) }
        if wanted.contains("ObjectSize") { out["ObjectSize"] = .integer(row.size) }
        if wanted.contains("StorageClass") { out["StorageClass"] = .string(row.storageClass) }
        if wanted.contains("Checksum"), !row.checksums.isEmpty {
            var c: [String: ShapeValue] = ["ChecksumType": .string(row.checksumType ?? "FULL_OBJECT")]
            for (name, value) in row.checksums { c["Checksum" + name] = .string(value) }
            out["Checksum"] = .structure(c)
        }
        if wanted.contains("ObjectParts"), let sizes = row.partSizes {
            let marker = call.input["PartNumberMarker"]?.int ?? 0
            let max = call.input["MaxParts"]?.int ?? 1000
            let parts = sizes.enumerated().filter { $0.offset + 1 > marker }
            let page = parts.prefix(max)
            var p: [String: ShapeValue] = [
                "TotalPartsCount": .integer(Int64(sizes.count)), "PartNumberMarker": .integer(Int64(marker)),
                "MaxParts": .integer(Int64(max)), "IsTruncated": .boolean(parts.count > max),
                "Parts": .list(page.map { ["PartNumber": .integer(Int64($0.offset + 1)), "Size": .integer($0.element)] }),
            ]
            if let last = page.last { p["NextPartNumberMarker"] = .integer(Int64(last.offset + 1)) }
            out["ObjectParts"] = .structure(p)
        }
        return .structure(out)
    }
}
