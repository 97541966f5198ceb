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
    static let minPartSize: Int64 = 5 * 1024 * 1024

    func createMultipartUpload(_ call: OperationCall) async throws -> ShapeValue {
        let key = call.key
        try Self.checkKey(key)
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:PutObject", key: key)
        var algorithm: ChecksumAlgorithm?
        if let name = call.string("ChecksumAlgorithm") {
            guard let a = ChecksumAlgorithm(caseInsensitive: name) else {
                throw AWSError.s3InvalidRequest("Checksum algorithm provided is unsupported.")
            }
            algorithm = a
        }
        var type = call.string("ChecksumType")
        if let t = type, !["COMPOSITE", "FULL_OBJECT"].contains(t) { throw AWSError.s3InvalidRequest("Value for x-amz-checksum-type header is invalid.") }
        if algorithm != nil && type == nil { type = algorithm == .crc64nvme ? "FULL_OBJECT" : "COMPOSITE" }
        if type == "FULL_OBJECT" && (algorithm == .sha1 || algorithm == .sha256) {
            throw AWSError.s3InvalidRequest("The FULL_OBJECT checksum type cannot be used with the \(algorithm!.rawValue.lowercased()) checksum algorithm.")
        }
        let upload = UploadRecord(
            uploadId: Self.newUploadId(), bucket: bucket.name, key: key, initiated: clock.now, headers: Self.headers(from: call),
            metadata: Self.metadata(from: call), checksumAlgorithm: algorithm?.rawValue, checksumType: type,
            tags: try Self.tags(header: call.string("Tagging")), acl: try cannedACL(call, bucket: bucket, access: access) ?? "private",
            storageClass: call.string("StorageClass") ?? "STANDARD")
        try await store.write { db in try upload.insert(db) }
        var out: [String: ShapeValue] = ["Bucket": .string(bucket.name), "Key": .string(key), "UploadId": .string(upload.uploadId)]
        if let a = upload.checksumAlgorithm { out["ChecksumAlgorithm"] = .string(a) }
        if let t = upload.checksumType { out["ChecksumType"] = .string(t) }
        return .structure(out)
    }

    static func newUploadId() -> String { ResourceID.token(length: 64) }

    /// The upload a part operation addresses, with access checked.
    func upload(_ call: OperationCall, action: String) async throws -> (BucketRecord, UploadRecord) {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: action, key: call.key)
        let uploadId = call.string("UploadId") ?? ""
        guard let upload = try await store.read({ db in try UploadRecord.fetchOne(db, key: uploadId) }),
            upload.bucket == bucket.name, upload.key == call.key
        else { throw AWSError.noSuchUpload(uploadId) }
        return (bucket, upload)
    }

    static func partNumber(_ call: OperationCall) throws -> Int {
        let n = call.input["PartNumber"]?.int ?? 0
        guard (1...10_000).contains(n) else {
            throw AWSError.s3InvalidArgument("Part number must be an integer between 1 and 10000, inclusive", name: "partNumber", value: String(n))
        }
        return n
    }

    func uploadPart(_ call: OperationCall) async throws -> ShapeValue {
        let (_, upload) = try await upload(call, action: "s3:PutObject")
        let number = try Self.partNumber(call)
        var algorithms = try Self.requestedChecksums(call).filter { $0 != .crc64nvme || call.request.header($0.header) != nil }
        if let a = upload.checksumAlgorithm.flatMap(ChecksumAlgorithm.init(rawValue:)), !algorithms.contains(a) { algorithms.append(a) }
        let body = call.input["Body"]?.stream ?? ByteStream(bytes: [])
        let written = try await blobs.write(body, checksums: algorithms, maxSize: Self.maxSinglePut)
        let part = PartRecord(
            uploadId: upload.uploadId, partNumber: number, size: written.size, etag: Self.quotedETag(md5: written.md5), blob: written.name,
            lastModified: clock.now, checksums: Dictionary(uniqueKeysWithValues: written.checksums.map { ($0.key.rawValue, $0.value) }))
        try await savePart(part, verify: { try Self.verifyIntegrity(call, written: written, trailers: body.trailers) })
        var out: [String: ShapeValue] = ["ETag": .string(part.etag), "ServerSideEncryption": "AES256"]
        for (name, value) in part.checksums where name == upload.checksumAlgorithm || call.request.header("x-amz-checksum-" + name.lowercased()) != nil {
            out["Checksum" + name] = .string(value)
        }
        return .structure(out)
    }

    func savePart(_ part: PartRecord, verify: () throws -> Void = {}) async throws {
        do {
            try verify()
            let replaced = try await store.write { db -> String? in
                guard try UploadRecord.fetchOne(db, key: part.uploadId) != nil else { throw AWSError.noSuchUpload(part.uploadId) }
                let old = try PartRecord.fetchOne(db, key: ["uploadId": part.uploadId, "partNumber": part.partNumber])
                try part.save(db)
                return old?.blob
            }
            if let replaced { await blobs.remove([replaced]) }
        } catch {
            await blobs.remove([part.blob])
            throw error
        }
    }

    func uploadPartCopy(_ call: OperationCall) async throws -> ShapeValue {
        let (_, upload) = try await upload(call, action: "s3:PutObject")
        let number = try Self.partNumber(call)
        let (source, row) = try await copySourceObject(call)
        var offset: Int64 = 0
        var length = row.size
        if let range = call.string("CopySourceRange") {
            let parts = range.hasPrefix("bytes=") ? range.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false) : []
            guard parts.count == 2, let a = Int64(parts[0]), let b = Int64(parts[1]), a <= b else {
                throw AWSError.s3InvalidArgument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                    name: "x-amz-copy-source-range", value: range)
            }
            guard b < row.size else {
                throw AWSError(code: "InvalidRange", message: "The requested range is not satisfiable", status: 416)
            }
            offset = a
            length = b - a + 1
        }
        let algorithms = upload.checksumAlgorithm.flatMap(ChecksumAlgorithm.init(rawValue:)).map { [$0] } ?? []
        let written = try await blobs.copyRange(row.blob ?? "", offset: offset, length: length, checksums: algorithms)
        let part = PartRecord(
            uploadId: upload.uploadId, partNumber: number, size: written.size, etag: Self.quotedETag(md5: written.md5), blob: written.name,
            lastModified: clock.now, checksums: Dictionary(uniqueKeysWithValues: written.checksums.map { ($0.key.rawValue, $0.value) }))
        try await savePart(part)
        var result: [String: ShapeValue] = ["ETag": .string(part.etag), "LastModified": .timestamp(part.lastModified)]
        for (name, value) in part.checksums { result["Checksum" + name] = .string(value) }
        var out: [String: ShapeValue] = ["CopyPartResult": .structure(result)]
        if let v = source.versionId { out["CopySourceVersionId"] = .string(v) }
        return .structure(out)
    }

    func completeMultipartUpload(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, upload) = try await upload(call, action: "s3:PutObject")
        let conditions = try WriteConditions(call)
        let requested = call.input["MultipartUpload"]?["Parts"]?.list ?? []
        guard !requested.isEmpty else {
            throw AWSError.s3InvalidRequest("You must specify at least one part")
        }
        let stored = try await store.read { db in
            try PartRecord.filter(PartRecord.Columns.uploadId == upload.uploadId).fetchAll(db)
        }
        let byNumber = Dictionary(uniqueKeysWithValues: stored.map { ($0.partNumber, $0) })
        var chosen: [PartRecord] = []
        var previous = 0
        for p in requested {
            let number = p["PartNumber"]?.int ?? 0
            guard number > previous else { throw AWSError.invalidPartOrder() }
            previous = number
        }
        for p in requested {
            let number = p["PartNumber"]?.int ?? 0
            let etag = p["ETag"]?.string ?? ""
            guard let part = byNumber[number], Self.etagMatches(etag, part.etag) else { throw AWSError.invalidPart(number, etag: etag) }
            for (name, value) in part.checksums {
                if let given = p["Checksum" + name]?.string, given != value { throw AWSError.invalidPart(number, etag: etag) }
            }
            chosen.append(part)
        }
        for (i, part) in chosen.enumerated() where i < chosen.count - 1 && part.size < Self.minPartSize {
            throw AWSError.entityTooSmall(part: part.partNumber)
        }
        let total = chosen.reduce(0) { $0 + $1.size }
        if let declared = call.input["MpuObjectSize"]?.int, Int64(declared) != total {
            throw AWSError.s3InvalidRequest("The provided 'x-amz-mp-object-size' header value \(declared) does not match what was computed: \(total)")
        }
        let algorithm = upload.checksumAlgorithm.flatMap(ChecksumAlgorithm.init(rawValue:))
        let fullObject = upload.checksumType == "FULL_OBJECT"
        let (blob, fullSums) = try await blobs.concatenate(
            chosen.map(\.blob), checksums: fullObject ? algorithm.map { [$0] } ?? [] : [])
        var checksums: [String: String] = [:]
        if let algorithm {
            if fullObject {
                checksums[algorithm.rawValue] = fullSums[algorithm]
            } else {
                // COMPOSITE: the checksum of the parts' checksums, with the part count.
                var h = ChecksumHasher(algorithm)
                for part in chosen { h.update(Array(Data(base64Encoded: part.checksums[algorithm.rawValue] ?? "") ?? Data())) }
                checksums[algorithm.rawValue] = h.base64() + "-\(chosen.count)"
            }
        }
        var md5s: [UInt8] = []
        for part in chosen { md5s += Self.hexBytes(String(part.etag.filter { $0 != "\"" })) }
        let etag = "\"" + Hashing.md5Hex(md5s) + "-\(chosen.count)\""
        let record = ObjectRecord(
            id: nil, bucket: bucket.name, key: upload.key, versionId: "null", isLatest: true, isDeleteMarker: false, size: total,
            etag: etag, lastModified: clock.now, blob: blob, headers: upload.headers, metadata: upload.metadata, checksums: checksums,
            checksumType: algorithm == nil ? nil : upload.checksumType, partsCount: chosen.count, partSizes: chosen.map(\.size),
            tags: upload.tags, acl: upload.acl, storageClass: upload.storageClass)
        let uploadId = upload.uploadId
        let committed: ObjectRecord
        do {
            committed = try await commit(record, conditions: conditions) { db in
                let parts = try PartRecord.filter(PartRecord.Columns.uploadId == uploadId).fetchAll(db)
                guard try UploadRecord.deleteOne(db, key: uploadId) else { throw AWSError.noSuchUpload(uploadId) }
                return parts.map(\.blob)
            }
        } catch {
            await blobs.remove([blob])
            throw error
        }
        await publish(
            .init(name: "ObjectCreated:CompleteMultipartUpload", key: upload.key, size: committed.size, etag: committed.etag, versionId: committed.versionId),
            bucket: bucket.name, context: call.context)
        var out: [String: ShapeValue] = [
            "Location": .string(call.context.endpoint + "/" + bucket.name + "/" + Self.urlEncode(upload.key)),
            "Bucket": .string(bucket.name), "Key": .string(upload.key), "ETag": .string(committed.etag), "ServerSideEncryption": "AES256",
        ]
        if bucket.versioning != nil { out["VersionId"] = .string(committed.versionId) }
        for (name, value) in checksums { out["Checksum" + name] = .string(value) }
        if let t = committed.checksumType { out["ChecksumType"] = .string(t) }
        return .structure(out)
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = hex.utf8.makeIterator()
        while let a = chars.next(), let b = chars.next() {
            guard let hi = Int(String(UnicodeScalar(a)), radix: 16), let lo = Int(String(UnicodeScalar(b)), radix: 16) else { return [] }
            out.append(UInt8(hi * 16 + lo))
        }
        return out
    }

    func abortMultipartUpload(_ call: OperationCall) async throws -> ShapeValue {
        let (_, upload) = try await upload(call, action: "s3:AbortMultipartUpload")
        let blobs = try await store.write { db -> [String] in
            let parts = try PartRecord.filter(PartRecord.Columns.uploadId == upload.uploadId).fetchAll(db)
            _ = try UploadRecord.deleteOne(db, key: upload.uploadId)
            return parts.map(\.blob)
        }
        await self.blobs.remove(blobs)
        return .empty
    }

    func listParts(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, upload) = try await upload(call, action: "s3:ListMultipartUploadParts")
        let marker = call.input["PartNumberMarker"]?.int ?? 0
        let max = min(call.input["MaxParts"]?.int ?? 1000, 1000)
        let parts = try await store.read { db in
            try PartRecord.filter(PartRecord.Columns.uploadId == upload.uploadId && PartRecord.Columns.partNumber > marker)
                .order(PartRecord.Columns.partNumber).limit(max + 1).fetchAll(db)
        }
        let page = parts.prefix(max)
        let owner = self.owner(bucket.accountId)
        var out: [String: ShapeValue] = [
            "Bucket": .string(bucket.name), "Key": .string(upload.key), "UploadId": .string(upload.uploadId),
            "PartNumberMarker": .integer(Int64(marker)), "MaxParts": .integer(Int64(max)), "IsTruncated": .boolean(parts.count > max),
            "StorageClass": .string(upload.storageClass), "Owner": owner, "Initiator": owner,
            "Parts": .list(page.map { p in
                var entry: [String: ShapeValue] = [
                    "PartNumber": .integer(Int64(p.partNumber)), "LastModified": .timestamp(p.lastModified), "ETag": .string(p.etag),
                    "Size": .integer(p.size),
                ]
                for (name, value) in p.checksums where name == upload.checksumAlgorithm { entry["Checksum" + name] = .string(value) }
                return .structure(entry)
            }),
        ]
        if let last = page.last { out["NextPartNumberMarker"] = .integer(Int64(last.partNumber)) }
        if let a = upload.checksumAlgorithm { out["ChecksumAlgorithm"] = .string(a) }
        if let t = upload.checksumType { out["ChecksumType"] = .string(t) }
        return .structure(out)
    }

    func listMultipartUploads(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:ListBucketMultipartUploads")
        let prefix = call.string("Prefix") ?? ""
        let delimiter = call.string("Delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let keyMarker = call.string("KeyMarker") ?? ""
        let uploadMarker = call.string("UploadIdMarker")
        let max = min(call.input["MaxUploads"]?.int ?? 1000, 1000)
        let all = try await store.read { db in
            try UploadRecord.filter(UploadRecord.Columns.bucket == bucket.name).order(UploadRecord.Columns.key, Column("initiated"), UploadRecord.Columns.uploadId).fetchAll(db)
        }
        var uploads: [UploadRecord] = []
        var prefixes: [String] = []
        var truncated = false
        var pastMarker = uploadMarker == nil
        for u in all where u.key.hasPrefix(prefix) {
            if u.key < keyMarker || (u.key == keyMarker && uploadMarker == nil) { continue }
            if u.key == keyMarker, let uploadMarker, !pastMarker {
                if u.uploadId == uploadMarker { pastMarker = true }
                continue
            }
            if let delimiter, let r = u.key.dropFirst(prefix.count).firstRange(of: delimiter) {
                let common = prefix + String(u.key.dropFirst(prefix.count)[..<r.upperBound])
                if prefixes.last == common || common <= keyMarker { continue }
                if uploads.count + prefixes.count == max { truncated = true; break }
                prefixes.append(common)
                continue
            }
            if uploads.count + prefixes.count == max { truncated = true; break }
            uploads.append(u)
        }
        let owner = self.owner(bucket.accountId)
        var out: [String: ShapeValue] = [
            "Bucket": .string(bucket.name), "KeyMarker": .string(keyMarker), "MaxUploads": .integer(Int64(max)),
            "IsTruncated": .boolean(truncated), "Prefix": .string(prefix),
        ]
        if let uploadMarker { out["UploadIdMarker"] = .string(uploadMarker) }
        if let delimiter { out["Delimiter"] = .string(delimiter) }
        if !uploads.isEmpty {
            out["Uploads"] = .list(uploads.map { u in
                var entry: [String: ShapeValue] = [
                    "UploadId": .string(u.uploadId), "Key": .string(u.key), "Initiated": .timestamp(u.initiated),
                    "StorageClass": .string(u.storageClass), "Owner": owner, "Initiator": owner,
                ]
                if let a = u.checksumAlgorithm { entry["ChecksumAlgorithm"] = .string(a) }
                return .structure(entry)
            })
        }
        if !prefixes.isEmpty { out["CommonPrefixes"] = .list(prefixes.map { ["Prefix": .string($0)] }) }
        if truncated, let last = uploads.last {
            out["NextKeyMarker"] = .string(last.key)
            out["NextUploadIdMarker"] = .string(last.uploadId)
        }
        return .structure(out)
    }
}
