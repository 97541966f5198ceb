import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One page of a listing: keys (or versions) and rolled-up common prefixes, in S3's order.
struct ListingPage {
    var rows: [ObjectRecord] = []
    var commonPrefixes: [String] = []
    var isTruncated = false
    /// The last key or common prefix returned: where the next page starts.
    var last: String?
    var lastRow: ObjectRecord?
    var count: Int { rows.count + commonPrefixes.count }
}

extension S3 {
    static let listBatch = 1000

    /// Walks keys after `position` with `prefix`, rolling keys up at `delimiter`.
    /// `versions`: every version and delete marker (newest first within a key) instead of live keys.
    func list(
        bucket: String, prefix: String, delimiter: String?, after position: String, afterId: Int64? = nil, maxKeys: Int,
        versions: Bool = false
    ) async throws -> ListingPage {
        var page = ListingPage()
        var cursorKey = max(position, prefix)
        var cursorId: Int64? = position >= prefix ? afterId : nil
        var inclusive = position < prefix
        let delimiter = delimiter.flatMap { $0.isEmpty ? nil : $0 }
        while true {
            let (key, id, incl) = (cursorKey, cursorId, inclusive)
            let rows = try await store.read { db -> [ObjectRecord] in
                var sql = "SELECT * FROM s3_objects WHERE bucket = ? AND "
                var args: [any DatabaseValueConvertible] = [bucket]
                if versions {
                    if let id {
                        sql += "(key > ? OR (key = ? AND id < ?))"
                        args += [key, key, id]
                    } else {
                        sql += incl ? "key >= ?" : "key > ?"
                        args.append(key)
                    }
                    sql += " ORDER BY key, id DESC LIMIT ?"
                } else {
                    sql += "isLatest = 1 AND isDeleteMarker = 0 AND " + (incl ? "key >= ?" : "key > ?")
                    args.append(key)
                    sql += " ORDER BY key LIMIT ?"
                }
                args.append(Self.listBatch)
                return try ObjectRecord.fetchAll(db, sql: sql, arguments: StatementArguments(args))
            }
            if rows.isEmpty { return page }
            var jumped = false
            for row in rows {
                cursorKey = row.key
                cursorId = versions ? row.id : nil
                inclusive = false
                guard row.key.hasPrefix(prefix) else {
                    if row.key > prefix { return page }
                    continue
                }
                if let delimiter {
                    let rest = row.key.utf8.dropFirst(prefix.utf8.count)
                    if let range = Substring(rest).firstRange(of: delimiter) {
                        let common = prefix + String(Substring(rest)[..<range.upperBound])
                        if common <= position || page.commonPrefixes.last == common { continue }
                        if page.count == maxKeys {
                            page.isTruncated = true
                            return page
                        }
                        page.commonPrefixes.append(common)
                        page.last = common
                        page.lastRow = nil
                        // Skip the rest of this prefix in one step.
                        cursorKey = common + "\u{10FFFF}"
                        cursorId = nil
                        jumped = true
                        break
                    }
                }
                if page.count == maxKeys {
                    page.isTruncated = true
                    return page
                }
                page.rows.append(row)
                page.last = row.key
                page.lastRow = row
            }
            if !jumped && rows.count < Self.listBatch { return page }
        }
    }

    static func maxKeys(_ call: OperationCall) throws -> Int {
        let max = call.input["MaxKeys"]?.int ?? 1000
        guard max >= 0 else {
            throw AWSError.s3InvalidArgument("Argument maxKeys must be an integer between 0 and 2147483647", name: "maxKeys", value: String(max))
        }
        return min(max, 1000)
    }

    /// `encoding-type=url`: percent-encode everything but unreserved characters and `/`.
    static func urlEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    static func checkEncodingType(_ call: OperationCall) throws -> Bool {
        guard let e = call.string("EncodingType") else { return false }
        guard e == "url" else { throw AWSError.s3InvalidArgument("Invalid Encoding Method specified in Request", name: "encoding-type", value: e) }
        return true
    }

    func objectEntry(_ row: ObjectRecord, encode: (String) -> String, owner: ShapeValue?) -> ShapeValue {
        var entry: [String: ShapeValue] = [
            "Key": .string(encode(row.key)), "LastModified": .timestamp(row.lastModified), "ETag": .string(row.etag),
            "Size": .integer(row.size), "StorageClass": .string(row.storageClass),
        ]
        if !row.checksums.isEmpty {
            entry["ChecksumAlgorithm"] = .list(row.checksums.keys.sorted().map { .string($0) })
            entry["ChecksumType"] = .string(row.checksumType ?? "FULL_OBJECT")
        }
        if let owner { entry["Owner"] = owner }
        return .structure(entry)
    }

    /// What every listing reads the same way: the bucket (access checked), prefix, delimiter,
    /// max-keys and encoding-type.
    struct ListingRequest {
        var bucket: BucketRecord
        var prefix: String
        var delimiter: String?
        var maxKeys: Int
        var encoded: Bool

        func encode(_ s: String) -> String { encoded ? S3.urlEncode(s) : s }

        /// The members every listing answers with.
        func output(_ page: ListingPage) -> [String: ShapeValue] {
            [
                "Name": .string(bucket.name), "Prefix": .string(encode(prefix)), "MaxKeys": .integer(Int64(maxKeys)),
                "IsTruncated": .boolean(page.isTruncated),
            ]
        }

        func addCommon(_ page: ListingPage, to out: inout [String: ShapeValue]) {
            if !page.commonPrefixes.isEmpty { out["CommonPrefixes"] = .list(page.commonPrefixes.map { ["Prefix": .string(encode($0))] }) }
            if let delimiter { out["Delimiter"] = .string(encode(delimiter)) }
            if encoded { out["EncodingType"] = "url" }
        }
    }

    func listingRequest(_ call: OperationCall, action: String) async throws -> ListingRequest {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: action)
        return ListingRequest(
            bucket: bucket, prefix: call.string("Prefix") ?? "", delimiter: call.string("Delimiter"), maxKeys: try Self.maxKeys(call),
            encoded: try Self.checkEncodingType(call))
    }

    func listObjectsV2(_ call: OperationCall) async throws -> ShapeValue {
        let r = try await listingRequest(call, action: "s3:ListBucket")
        let (bucket, prefix, delimiter, maxKeys) = (r.bucket, r.prefix, r.delimiter, r.maxKeys)
        let encode = r.encode
        let startAfter = call.string("StartAfter")
        let token = call.string("ContinuationToken")
        let position = try token.map { try Self.position(token: $0) } ?? startAfter ?? ""
        let page = maxKeys == 0 ? ListingPage() : try await list(bucket: bucket.name, prefix: prefix, delimiter: delimiter, after: position, maxKeys: maxKeys)
        let owner = call.input["FetchOwner"]?.bool == true ? self.owner(bucket.accountId) : nil
        var out = r.output(page)
        out["KeyCount"] = .integer(Int64(page.count))
        if !page.rows.isEmpty { out["Contents"] = .list(page.rows.map { objectEntry($0, encode: encode, owner: owner) }) }
        r.addCommon(page, to: &out)
        if let token { out["ContinuationToken"] = .string(token) }
        if let startAfter { out["StartAfter"] = .string(encode(startAfter)) }
        if page.isTruncated, let last = page.last { out["NextContinuationToken"] = .string(PageToken.encode(last)) }
        return .structure(out)
    }

    func listObjects(_ call: OperationCall) async throws -> ShapeValue {
        let r = try await listingRequest(call, action: "s3:ListBucket")
        let (bucket, prefix, delimiter, maxKeys) = (r.bucket, r.prefix, r.delimiter, r.maxKeys)
        let encode = r.encode
        let marker = call.string("Marker") ?? ""
        let page = maxKeys == 0 ? ListingPage() : try await list(bucket: bucket.name, prefix: prefix, delimiter: delimiter, after: marker, maxKeys: maxKeys)
        let owner = self.owner(bucket.accountId)
        var out = r.output(page)
        out["Marker"] = .string(encode(marker))
        if !page.rows.isEmpty { out["Contents"] = .list(page.rows.map { objectEntry($0, encode: encode, owner: owner) }) }
        r.addCommon(page, to: &out)
        // S3 sends NextMarker only with a delimiter; clients use the last key otherwise.
        if page.isTruncated, delimiter != nil, let last = page.last { out["NextMarker"] = .string(encode(last)) }
        return .structure(out)
    }

    func listObjectVersions(_ call: OperationCall) async throws -> ShapeValue {
        let r = try await listingRequest(call, action: "s3:ListBucketVersions")
        let (bucket, prefix, delimiter, maxKeys) = (r.bucket, r.prefix, r.delimiter, r.maxKeys)
        let encode = r.encode
        let keyMarker = call.string("KeyMarker") ?? ""
        let versionMarker = call.string("VersionIdMarker")
        var afterId: Int64?
        if let versionMarker, !keyMarker.isEmpty {
            afterId = try await store.read { db in
                try Self.fetchObject(db, bucket: bucket.name, key: keyMarker, versionId: versionMarker)?.id
            }
            guard afterId != nil else {
                throw AWSError.s3InvalidArgument("Invalid version id specified", name: "version-id-marker", value: versionMarker)
            }
        }
        // With a version marker the walk resumes inside that key's versions; without, after all of them.
        let page = try await list(
            bucket: bucket.name, prefix: prefix, delimiter: delimiter, after: keyMarker, afterId: afterId, maxKeys: maxKeys, versions: true)
        let owner = self.owner(bucket.accountId)
        var versions: [ShapeValue] = []
        var markers: [ShapeValue] = []
        for row in page.rows {
            var entry: [String: ShapeValue] = [
                "Key": .string(encode(row.key)), "VersionId": .string(row.versionId), "IsLatest": .boolean(row.isLatest),
                "LastModified": .timestamp(row.lastModified), "Owner": owner,
            ]
            if row.isDeleteMarker {
                markers.append(.structure(entry))
            } else {
                entry["ETag"] = .string(row.etag)
                entry["Size"] = .integer(row.size)
                entry["StorageClass"] = .string(row.storageClass)
                versions.append(.structure(entry))
            }
        }
        var out = r.output(page)
        out["KeyMarker"] = .string(encode(keyMarker))
        if let versionMarker { out["VersionIdMarker"] = .string(versionMarker) }
        if !versions.isEmpty { out["Versions"] = .list(versions) }
        if !markers.isEmpty { out["DeleteMarkers"] = .list(markers) }
        r.addCommon(page, to: &out)
        if page.isTruncated, let last = page.last {
            out["NextKeyMarker"] = .string(encode(last))
            if let row = page.lastRow { out["NextVersionIdMarker"] = .string(row.versionId) }
        }
        return .structure(out)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
