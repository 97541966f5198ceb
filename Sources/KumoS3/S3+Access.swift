import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The bucket settings read with the bucket (and cached with it, see `BucketCache`): what decides
/// access besides its owner — its policy and public access block — and where its events go.
struct BucketAccess: Sendable {
    var policy: BucketPolicy?
    var publicAccessBlock: [String: ShapeValue]
    /// The notification configuration (nil: none), read by every write that may send an event.
    var notification: ShapeValue? = nil
}

extension S3 {
    /// The bucket (NoSuchBucket when absent) and the settings access checks need, in one read.
    func bucketAndAccess(_ name: String) async throws -> (BucketRecord, BucketAccess) {
        if let cached = bucketCache.get(name) { return cached }
        let generation = bucketCache.generation
        let found = try await store.read { db in try Self.lookup(db, bucket: name) }
        guard let found else { throw AWSError.noSuchBucket(name) }
        bucketCache.store(name, found, readAt: generation)
        return found
    }

    /// Reads a bucket and its access settings with cached statements (this runs on every request).
    static func lookup(_ db: Database, bucket name: String) throws -> (BucketRecord, BucketAccess)? {
        guard let bucket = try BucketRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM s3_buckets WHERE name = ?"), arguments: [name])
        else { return nil }
        let configs = try BucketConfigRecord.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM s3_bucket_configs WHERE bucket = ? AND kind IN ('policy', 'publicAccessBlock', 'notification')"),
            arguments: [name])
        var access = BucketAccess(policy: nil, publicAccessBlock: [:])
        for c in configs {
            let value = ShapeValue(storageJSON: try JSONValue.parse(c.body))
            if c.kind == "policy" { access.policy = try? BucketPolicy(text: value.string ?? "", bucket: name) }
            if c.kind == "publicAccessBlock" { access.publicAccessBlock = value.members ?? [:] }
            if c.kind == BucketConfigKind.notification.kind { access.notification = value }
        }
        return (bucket, access)
    }

    /// Checks a request against the bucket's owner, policy and canned ACLs; throws AccessDenied.
    ///
    /// An explicit Deny in the policy always wins; the owner account is allowed
    /// everything else; other callers (and anonymous ones) need a policy Allow or a
    /// public canned ACL, unless the public access block says to ignore those.
    func authorize(
        _ call: OperationCall, _ bucket: BucketRecord, _ access: BucketAccess, action: String, key: String? = nil,
        objectACL: String? = nil
    ) throws {
        let context = call.context
        let principal = context.identity?.kind == .service
            ? PolicyPrincipal(accountId: nil, arn: nil, service: context.identity?.name)
            : PolicyPrincipal(accountId: context.identity?.accountId, arn: context.identity?.arn, service: nil)
        try authorize(
            principal: principal, sourceIp: context.sourceAddress, secure: context.secureTransport, query: call.request.query, bucket, access,
            action: action, key: key, objectACL: objectACL, sourceArn: context.sourceArn)
    }

    func authorize(
        principal: PolicyPrincipal, sourceIp: String?, secure: Bool, query: [(name: String, value: String)], _ bucket: BucketRecord,
        _ access: BucketAccess, action: String, key: String?, objectACL: String?, sourceArn: String? = nil
    ) throws {
        let resource = "arn:aws:s3:::" + bucket.name + (key.map { "/" + $0 } ?? "")
        var conditionContext: [String: String] = ["aws:SecureTransport": secure ? "true" : "false"]
        if let sourceIp { conditionContext["aws:SourceIp"] = sourceIp }
        if let account = principal.accountId { conditionContext["aws:PrincipalAccount"] = account }
        if let arn = principal.arn { conditionContext["aws:PrincipalArn"] = arn }
        if let sourceArn {
            conditionContext["aws:SourceArn"] = sourceArn
            if let account = ARN(sourceArn)?.accountId { conditionContext["aws:SourceAccount"] = account }
        }
        if let prefix = query.first(where: { $0.name == "prefix" })?.value { conditionContext["s3:prefix"] = prefix }
        conditionContext["aws:PrincipalType"] = principal.service != nil ? "Service" : principal.accountId == nil ? "Anonymous" : "User"
        let decision = access.policy?.evaluate(principal: principal, action: action, resource: resource, context: conditionContext) ?? .none
        if decision == .deny { throw AWSError.s3AccessDenied() }
        if principal.accountId == bucket.accountId { return }
        if decision == .allow {
            let restricted = access.publicAccessBlock["RestrictPublicBuckets"]?.bool == true && access.policy?.isPublic == true
            if !restricted || principal.service != nil { return }
        }
        if access.publicAccessBlock["IgnorePublicAcls"]?.bool != true && bucket.objectOwnership != "BucketOwnerEnforced" {
            let reads: Set = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"]
            let acl = key == nil ? bucket.acl : (objectACL ?? "private")
            if reads.contains(action) && (acl == "public-read" || acl == "public-read-write") { return }
            if acl == "authenticated-read" && reads.contains(action) && principal.accountId != nil { return }
            if key != nil && action == "s3:PutObject" && bucket.acl == "public-read-write" { return }
        }
        throw AWSError.s3AccessDenied()
    }

    /// The position a continuation token encodes (InvalidArgument when it was not ours).
    static func position(token: String) throws -> String {
        guard let p = PageToken.decode(token) else {
            throw AWSError.s3InvalidArgument("The continuation token provided is incorrect", name: "continuation-token", value: token)
        }
        return p
    }
}
