public import KumoCore
import KumoProtocols
import KumoStore

/// Log files from other services (CloudFront standard logs, load balancer access logs) written
/// into buckets as the log delivery service: stored like any PutObject, notifications included.
extension S3Provider: LogFileSink {
    public func bucketOwner(_ bucket: String) async -> String? {
        try? await s3.store.read { db in try S3.lookup(db, bucket: bucket)?.0.accountId }
    }

    public func deliver(bucket: String, key: String, body: [UInt8], contentType: String, contentEncoding: String?) async throws {
        let written = try await s3.blobs.write(ByteStream(bytes: body), checksums: [], maxSize: S3.maxSinglePut)
        var headers = ["ContentType": contentType]
        if let contentEncoding { headers["ContentEncoding"] = contentEncoding }
        let record = ObjectRecord(
            id: nil, bucket: bucket, key: key, versionId: "null", isLatest: true, isDeleteMarker: false, size: written.size,
            etag: S3.quotedETag(md5: written.md5), lastModified: s3.clock.now, blob: written.name, headers: headers, metadata: [:],
            checksums: [:], checksumType: "FULL_OBJECT", partsCount: nil, partSizes: nil, tags: [:], acl: "private", storageClass: "STANDARD")
        do {
            let stored = try await s3.commit(record, conditions: nil)
            await s3.publish(
                .init(name: "ObjectCreated:Put", key: key, size: stored.size, etag: stored.etag, versionId: stored.versionId), bucket: bucket,
                context: nil)
        } catch {
            await s3.blobs.remove([written.name])
            throw error
        }
    }
}
