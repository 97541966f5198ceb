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
    struct CopySource: Sendable {
        var bucket: String
        var key: String
        var versionId: String?
    }

    /// `x-amz-copy-source`: `[/]bucket/key[?versionId=...]`, URL-encoded.
    static func copySource(_ header: String?) throws -> CopySource {
        guard var text = header, !text.isEmpty else {
            throw AWSError.s3InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey", name: "x-amz-copy-source", value: "")
        }
        var versionId: String?
        if let q = text.firstIndex(of: "?") {
            let query = FormEncoding.decode(text[text.index(after: q)...])
            versionId = query.first { $0.0 == "versionId" }?.1
            text = String(text[..<q])
        }
        let decoded = FormEncoding.unescape(Substring(text), plus: false)
        let trimmed = decoded.hasPrefix("/") ? String(decoded.dropFirst()) : decoded
        guard let slash = trimmed.firstIndex(of: "/"), slash != trimmed.startIndex, trimmed.index(after: slash) != trimmed.endIndex else {
            throw AWSError.s3InvalidArgument(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", name: "x-amz-copy-source", value: header ?? "")
        }
        return CopySource(bucket: String(trimmed[..<slash]), key: String(trimmed[trimmed.index(after: slash)...]), versionId: versionId)
    }

    /// The source object of a copy, with its access and `x-amz-copy-source-if-*` conditions checked.
    func copySourceObject(_ call: OperationCall) async throws -> (CopySource, ObjectRecord) {
        let source = try Self.copySource(call.string("CopySource"))
        let (bucket, access) = try await bucketAndAccess(source.bucket)
        let row = try await store.read { db in try Self.fetchObject(db, bucket: source.bucket, key: source.key, versionId: source.versionId) }
        guard let row, !row.isDeleteMarker else {
            if source.versionId != nil, row?.isDeleteMarker == true {
                throw AWSError.s3InvalidRequest("The source of a copy request may not specifically refer to a delete marker by version id.")
            }
            throw AWSError.noSuchKey(source.key)
        }
        try authorize(call, bucket, access, action: source.versionId == nil ? "s3:GetObject" : "s3:GetObjectVersion", key: source.key, objectACL: row.acl)
        let modified = row.lastModified.timeIntervalSince1970.rounded(.down)
        if let m = call.string("CopySourceIfMatch") {
            if !Self.etagMatches(m, row.etag) { throw AWSError.preconditionFailed("x-amz-copy-source-If-Match") }
        } else if let d = call.input["CopySourceIfUnmodifiedSince"]?.date, modified > d.timeIntervalSince1970 {
            throw AWSError.preconditionFailed("x-amz-copy-source-If-Unmodified-Since")
        }
        if let m = call.string("CopySourceIfNoneMatch") {
            if Self.etagMatches(m, row.etag) { throw AWSError.preconditionFailed("x-amz-copy-source-If-None-Match") }
        } else if let d = call.input["CopySourceIfModifiedSince"]?.date, modified <= d.timeIntervalSince1970 {
            throw AWSError.preconditionFailed("x-amz-copy-source-If-Modified-Since")
        }
        return (source, row)
    }

    func copyObject(_ call: OperationCall) async throws -> ShapeValue {
        let key = call.key
        try Self.checkKey(key)
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:PutObject", key: key)
        let (source, row) = try await copySourceObject(call)
        let directive = call.string("MetadataDirective") ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else {
            throw AWSError.s3InvalidArgument("Unknown metadata directive.", name: "MetadataDirective", value: directive)
        }
        let tagging = call.string("TaggingDirective") ?? "COPY"
        let changesSomething = directive == "REPLACE" || call.string("StorageClass") != nil
            || call.string("WebsiteRedirectLocation") != nil || call.string("ServerSideEncryption") != nil
        if source.bucket == bucket.name && source.key == key && source.versionId == nil && !changesSomething {
            throw AWSError.s3InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
        }
        let conditions = try WriteConditions(call)
        let blob = try await blobs.clone(row.blob ?? "")
        var record = row
        record.id = nil
        record.bucket = bucket.name
        record.key = key
        record.blob = blob
        record.lastModified = clock.now
        record.acl = try cannedACL(call, bucket: bucket, access: access) ?? "private"
        if directive == "REPLACE" {
            record.headers = Self.headers(from: call)
            record.metadata = Self.metadata(from: call)
        }
        if let sc = call.string("StorageClass") { record.storageClass = sc }
        if tagging == "REPLACE" { record.tags = try Self.tags(header: call.string("Tagging")) }
        do {
            let stored = try await commit(record, conditions: conditions)
            await publish(.init(name: "ObjectCreated:Copy", key: key, size: stored.size, etag: stored.etag, versionId: stored.versionId), bucket: bucket.name, context: call.context)
            var result: [String: ShapeValue] = ["ETag": .string(stored.etag), "LastModified": .timestamp(stored.lastModified)]
            for (name, value) in stored.checksums { result["Checksum" + name] = .string(value) }
            if !stored.checksums.isEmpty { result["ChecksumType"] = .string(stored.checksumType ?? "FULL_OBJECT") }
            var out: [String: ShapeValue] = ["CopyObjectResult": .structure(result), "ServerSideEncryption": "AES256"]
            if bucket.versioning != nil { out["VersionId"] = .string(stored.versionId) }
            if let v = source.versionId ?? (row.versionId == "null" ? nil : row.versionId) { out["CopySourceVersionId"] = .string(v) }
            return .structure(out)
        } catch {
            await blobs.remove([blob])
            throw error
        }
    }
}
