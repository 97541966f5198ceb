import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A bucket sub-resource with Put/Get/Delete operations whose Get answers what
/// Put stored: website, CORS, tagging, lifecycle, policy, notifications, ...
struct BucketConfigKind: Sendable {
    /// The storage key (`website`).
    var kind: String
    /// The operation name without its verb (`BucketWebsite`).
    var operation: String
    var deleteOperation: String
    /// The Put input member holding the configuration.
    var payload: String
    /// Whether the Get output holds the configuration in a member named `payload` (else its members are the output's).
    var wrapped: Bool
    var deletable: Bool = true
    /// The error when there is none; nil: Get answers `fallback`.
    var missing: (code: String, message: String)?
    var fallback: ShapeValue = .empty
    var permission: String
    var validate: @Sendable (ShapeValue, BucketRecord) throws -> Void = { _, _ in }

    static let website = BucketConfigKind(
        kind: "website", operation: "BucketWebsite", deleteOperation: "BucketWebsite", payload: "WebsiteConfiguration", wrapped: false,
        missing: ("NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"), permission: "BucketWebsite",
        validate: { config, _ in try S3Website.validate(config) })
    static let cors = BucketConfigKind(
        kind: "cors", operation: "BucketCors", deleteOperation: "BucketCors", payload: "CORSConfiguration", wrapped: false,
        missing: ("NoSuchCORSConfiguration", "The CORS configuration does not exist"), permission: "BucketCORS",
        validate: { config, _ in try CORS.validate(config) })
    static let tagging = BucketConfigKind(
        kind: "tagging", operation: "BucketTagging", deleteOperation: "BucketTagging", payload: "Tagging", wrapped: false,
        missing: ("NoSuchTagSet", "The TagSet does not exist"), permission: "BucketTagging",
        validate: { config, _ in _ = try S3.tags(from: config["TagSet"]) })
    static let lifecycle = BucketConfigKind(
        kind: "lifecycle", operation: "BucketLifecycleConfiguration", deleteOperation: "BucketLifecycle", payload: "LifecycleConfiguration",
        wrapped: false, missing: ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"),
        permission: "LifecycleConfiguration",
        validate: { config, _ in
            guard let rules = config["Rules"]?.list, !rules.isEmpty else { throw AWSError.malformedXML() }
        })
    static let policy = BucketConfigKind(
        kind: "policy", operation: "BucketPolicy", deleteOperation: "BucketPolicy", payload: "Policy", wrapped: true,
        missing: ("NoSuchBucketPolicy", "The bucket policy does not exist"), permission: "BucketPolicy",
        validate: { config, bucket in _ = try BucketPolicy(text: config.string ?? "", bucket: bucket.name) })
    static let notification = BucketConfigKind(
        kind: "notification", operation: "BucketNotificationConfiguration", deleteOperation: "", payload: "NotificationConfiguration",
        wrapped: false, deletable: false, missing: nil, permission: "BucketNotification",
        validate: { config, _ in try Notifications.validate(config) })
    static let publicAccessBlock = BucketConfigKind(
        kind: "publicAccessBlock", operation: "PublicAccessBlock", deleteOperation: "PublicAccessBlock",
        payload: "PublicAccessBlockConfiguration", wrapped: true,
        missing: ("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"),
        permission: "BucketPublicAccessBlock")
    static let ownershipControls = BucketConfigKind(
        kind: "ownershipControls", operation: "BucketOwnershipControls", deleteOperation: "BucketOwnershipControls",
        payload: "OwnershipControls", wrapped: true,
        missing: ("OwnershipControlsNotFoundError", "The bucket ownership controls were not found"), permission: "BucketOwnershipControls",
        validate: { config, _ in
            let rule = config["Rules"]?.list?.first?["ObjectOwnership"]?.string
            guard ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"].contains(rule ?? "") else { throw AWSError.malformedXML() }
        })
    static let encryption = BucketConfigKind(
        kind: "encryption", operation: "BucketEncryption", deleteOperation: "BucketEncryption",
        payload: "ServerSideEncryptionConfiguration", wrapped: true, missing: nil,
        // Every bucket encrypts with SSE-S3 unless told otherwise.
        fallback: ["ServerSideEncryptionConfiguration": ["Rules": [["ApplyServerSideEncryptionByDefault": ["SSEAlgorithm": "AES256"], "BucketKeyEnabled": false]]]],
        permission: "EncryptionConfiguration")

    static let all: [BucketConfigKind] = [website, cors, tagging, lifecycle, policy, notification, publicAccessBlock, ownershipControls, encryption]
}

extension S3 {
    func putBucketConfig(_ call: OperationCall, _ config: BucketConfigKind) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:Put" + config.permission)
        guard let value = call.input[config.payload] else { throw AWSError.malformedXML() }
        try config.validate(value, bucket)
        if config.kind == BucketConfigKind.policy.kind, access.publicAccessBlock["BlockPublicPolicy"]?.bool == true,
            try BucketPolicy(text: value.string ?? "", bucket: bucket.name).isPublic
        {
            throw AWSError.s3AccessDenied()
        }
        let isNotification = config.kind == BucketConfigKind.notification.kind
        let queueArns = isNotification ? (value["QueueConfigurations"]?.list ?? []).compactMap { $0["QueueArn"]?.string } : []
        if let queues {
            for arn in queueArns { try await queues.checkDelivery(to: arn, from: "arn:aws:s3:::" + bucket.name, sourceAccount: bucket.accountId) }
        }
        let body = value.storageJSON.serialized()
        try await writeBucket(bucket.name) { db in
            try BucketConfigRecord(bucket: bucket.name, kind: config.kind, body: body).save(db)
            if config.kind == BucketConfigKind.ownershipControls.kind,
                let rule = value["Rules"]?.list?.first?["ObjectOwnership"]?.string
            {
                try db.execute(sql: "UPDATE s3_buckets SET objectOwnership = ? WHERE name = ?", arguments: [rule, bucket.name])
            }
        }
        // Configuring a destination sends it a test event, as S3 does.
        if let queues {
            let test = Self.testEventJSON(bucket: bucket.name, context: call.context, now: clock.now)
            for arn in Set(queueArns) { _ = try? await queues.deliver(to: arn, body: test) }
        }
        return .empty
    }

    func getBucketConfig(_ call: OperationCall, _ config: BucketConfigKind) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:Get" + config.permission)
        guard let value = try await bucketConfig(bucket.name, config) else {
            if config.kind == BucketConfigKind.ownershipControls.kind {
                return ["OwnershipControls": ["Rules": [["ObjectOwnership": .string(bucket.objectOwnership)]]]]
            }
            guard let missing = config.missing else { return config.fallback }
            throw AWSError.noSuchConfiguration(missing.code, missing.message, bucket: bucket.name)
        }
        return config.wrapped ? .structure([config.payload: value]) : value
    }

    func deleteBucketConfig(_ call: OperationCall, _ config: BucketConfigKind) async throws -> ShapeValue {
        let (bucket, access) = try await bucketAndAccess(call.bucket)
        try authorize(call, bucket, access, action: "s3:Put" + config.permission)
        try await writeBucket(bucket.name) { db in
            _ = try BucketConfigRecord.deleteOne(db, key: ["bucket": bucket.name, "kind": config.kind])
        }
        return .empty
    }

    func bucketConfig(_ bucket: String, _ config: BucketConfigKind) async throws -> ShapeValue? {
        try await store.read { db in
            try BucketConfigRecord.fetchOne(db, key: ["bucket": bucket, "kind": config.kind])
        }.map { ShapeValue(storageJSON: try JSONValue.parse($0.body)) }
    }

    /// Tags from a `TagSet` list, checked as S3 checks them.
    static func tags(from list: ShapeValue?) throws -> [String: String] {
        var tags: [String: String] = [:]
        for tag in list?.list ?? [] {
            let key = tag["Key"]?.string ?? ""
            let value = tag["Value"]?.string ?? ""
            guard !key.isEmpty, key.count <= 128, value.count <= 256 else {
                throw AWSError(code: "InvalidTag", message: "The TagKey you have provided is invalid")
            }
            guard tags[key] == nil else { throw AWSError(code: "InvalidTag", message: "Cannot provide multiple Tags with the same key") }
            tags[key] = value
        }
        return tags
    }

    static func tagSet(_ tags: [String: String]) -> ShapeValue {
        .list(tags.sorted { $0.key < $1.key }.map { ["Key": .string($0.key), "Value": .string($0.value)] })
    }
}
