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
    /// S3's general-purpose bucket naming rules.
    static func isValidBucketName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        guard bytes.allSatisfy({ isLowerAlnum($0) || $0 == 45 || $0 == 46 }) else { return false }
        guard isLowerAlnum(bytes.first!), isLowerAlnum(bytes.last!) else { return false }
        if name.contains("..") || name.contains(".-") || name.contains("-.") { return false }
        let parts = name.split(separator: ".")
        if parts.count == 4 && parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) { return false }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] where name.hasPrefix(prefix) { return false }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] where name.hasSuffix(suffix) { return false }
        return true
    }

    func createBucket(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.bucket
        guard Self.isValidBucketName(name) else { throw AWSError.invalidBucketName(name) }
        // Creating a bucket needs a signed caller; its account owns the bucket.
        guard let account = call.context.identity?.accountId else { throw AWSError.s3AccessDenied() }
        let requestRegion = call.context.region
        let constraint = call.input["CreateBucketConfiguration"]?["LocationConstraint"]?.string
        let region: String
        switch (constraint, requestRegion) {
        case (nil, "us-east-1"), ("", "us-east-1"):
            region = "us-east-1"
        case ("us-east-1", _):
            throw AWSError(
                code: "InvalidLocationConstraint", message: "The specified location-constraint is not valid",
                fields: [.init("LocationConstraint", "us-east-1")])
        case (nil, _), ("", _):
            throw AWSError(
                code: "IllegalLocationConstraintException",
                message: "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
        case (let c?, let r) where c != r && !(c == "EU" && r == "eu-west-1"):
            throw AWSError(
                code: "IllegalLocationConstraintException",
                message: "The \(c) location constraint is incompatible for the region specific endpoint this request was sent to.")
        case (let c?, _):
            region = c == "EU" ? "eu-west-1" : c
        }
        let acl = call.string("ACL") ?? "private"
        let ownership = call.string("ObjectOwnership") ?? "BucketOwnerEnforced"
        if ownership == "BucketOwnerEnforced" && acl != "private" && acl != "bucket-owner-full-control" {
            throw AWSError(code: "InvalidBucketAclWithObjectOwnership", message: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
        }
        let now = clock.now
        try await writeBucket(name) { db in
            if let existing = try BucketRecord.fetchOne(db, key: name) {
                guard existing.accountId == account else { throw AWSError.bucketAlreadyExists(name) }
                // S3 answers 200 in us-east-1 for legacy compatibility, 409 everywhere else.
                guard existing.region == "us-east-1" && region == "us-east-1" else { throw AWSError.bucketAlreadyOwnedByYou(name) }
                return
            }
            try BucketRecord(
                name: name, accountId: account, region: region, created: now, versioning: nil, acl: acl, objectOwnership: ownership
            ).insert(db)
            // New buckets block public access, as S3 does since April 2023.
            let block: ShapeValue = [
                "BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true,
            ]
            try BucketConfigRecord(bucket: name, kind: BucketConfigKind.publicAccessBlock.kind, body: block.storageJSON.serialized()).insert(db)
        }
        return ["Location": .string("/" + name)]
    }

    func headBucket(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:ListBucket")
        return ["BucketRegion": .string(bucket.region), "AccessPointAlias": false]
    }

    func deleteBucket(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:DeleteBucket")
        try await writeBucket(bucket.name) { db in
            let objects = try ObjectRecord.filter(ObjectRecord.Columns.bucket == bucket.name).fetchCount(db)
            let uploads = try UploadRecord.filter(UploadRecord.Columns.bucket == bucket.name).fetchCount(db)
            guard objects == 0 && uploads == 0 else { throw AWSError.bucketNotEmpty(bucket.name) }
            _ = try BucketRecord.deleteOne(db, key: bucket.name)
        }
        return .empty
    }

    func listBuckets(_ call: OperationCall) async throws -> ShapeValue {
        guard let identity = call.context.identity else { throw AWSError.s3AccessDenied() }
        let prefix = call.string("Prefix") ?? ""
        let regionFilter = call.string("BucketRegion")
        let max = call.input["MaxBuckets"]?.int ?? 10_000
        guard (1...10_000).contains(max) else {
            throw AWSError.s3InvalidArgument("max-buckets must be between 1 and 10000", name: "max-buckets", value: String(max))
        }
        let after = try call.string("ContinuationToken").map { try S3.position(token: $0) } ?? ""
        let buckets = try await store.read { db in
            try BucketRecord.filter(BucketRecord.Columns.accountId == identity.accountId)
                .filter(BucketRecord.Columns.name > after)
                .order(BucketRecord.Columns.name).fetchAll(db)
        }.filter { $0.name.hasPrefix(prefix) && (regionFilter == nil || $0.region == regionFilter) }
        let page = buckets.prefix(max)
        var out: [String: ShapeValue] = [
            "Buckets": .list(page.map { b in
                [
                    "Name": .string(b.name), "CreationDate": .timestamp(b.created), "BucketRegion": .string(b.region),
                    "BucketArn": .string("arn:aws:s3:::" + b.name),
                ]
            }),
            "Owner": owner(identity.accountId),
        ]
        if !prefix.isEmpty { out["Prefix"] = .string(prefix) }
        if buckets.count > max, let last = page.last { out["ContinuationToken"] = .string(PageToken.encode(last.name)) }
        return .structure(out)
    }

    func getBucketLocation(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:GetBucketLocation")
        // us-east-1 is the empty constraint.
        return bucket.region == "us-east-1" ? ["LocationConstraint": ""] : ["LocationConstraint": .string(bucket.region)]
    }

    func putBucketVersioning(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:PutBucketVersioning")
        guard let status = call.input["VersioningConfiguration"]?["Status"]?.string, ["Enabled", "Suspended"].contains(status) else {
            throw AWSError.malformedXML()
        }
        try await writeBucket(bucket.name) { db in
            try db.execute(sql: "UPDATE s3_buckets SET versioning = ? WHERE name = ?", arguments: [status, bucket.name])
        }
        return .empty
    }

    func getBucketVersioning(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:GetBucketVersioning")
        return bucket.versioning.map { ["Status": .string($0)] } ?? .empty
    }

    func getBucketAcl(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:GetBucketAcl")
        return aclOutput(owner: bucket.accountId, canned: bucket.acl)
    }

    func putBucketAcl(_ call: OperationCall) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:PutBucketAcl")
        let acl = try cannedACL(call, bucket: bucket, access: access) ?? "private"
        try await writeBucket(bucket.name) { db in
            try db.execute(sql: "UPDATE s3_buckets SET acl = ? WHERE name = ?", arguments: [acl, bucket.name])
        }
        return .empty
    }

    /// The canned ACL a request sets, checked against object ownership and the public access block.
    func cannedACL(_ call: OperationCall, bucket: BucketRecord, access: BucketAccess) throws -> String? {
        guard let acl = call.string("ACL") else { return nil }
        let known = ["private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"]
        guard known.contains(acl) else { throw AWSError.s3InvalidArgument("", name: "x-amz-acl", value: acl) }
        if bucket.objectOwnership == "BucketOwnerEnforced" && acl != "private" && acl != "bucket-owner-full-control" {
            throw AWSError(code: "AccessControlListNotSupported", message: "The bucket does not allow ACLs")
        }
        if acl.hasPrefix("public-"), access.publicAccessBlock["BlockPublicAcls"]?.bool == true {
            throw AWSError.s3AccessDenied()
        }
        return acl
    }

    func owner(_ account: String) -> ShapeValue {
        ["ID": .string(Self.canonicalUserId(account)), "DisplayName": .string("kumo-\(account)")]
    }

    /// A stable 64-hex canonical user id per account.
    static func canonicalUserId(_ account: String) -> String { Hashing.sha256Hex(Array(("kumo-canonical-" + account).utf8)) }

    func aclOutput(owner account: String, canned: String) -> ShapeValue {
        let ownerValue = owner(account)
        var grants: [ShapeValue] = [
            [
                "Grantee": ["Type": "CanonicalUser", "ID": ownerValue["ID"]!, "DisplayName": ownerValue["DisplayName"]!],
                "Permission": "FULL_CONTROL",
            ]
        ]
        let allUsers: ShapeValue = ["Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"]
        if canned == "public-read" || canned == "public-read-write" { grants.append(["Grantee": allUsers, "Permission": "READ"]) }
        if canned == "public-read-write" { grants.append(["Grantee": allUsers, "Permission": "WRITE"]) }
        if canned == "authenticated-read" {
            grants.append(["Grantee": ["Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"], "Permission": "READ"])
        }
        return ["Owner": ownerValue, "Grants": .list(grants)]
    }
}
