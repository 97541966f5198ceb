import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension CloudFront {
    func status(_ d: DistributionRecord) -> String { clock.now >= d.deployedAt ? "Deployed" : "InProgress" }

    func distributionShape(_ d: DistributionRecord, inProgressInvalidations: Int = 0) -> ShapeValue {
        [
            "Id": .string(d.id), "ARN": .string(arn(distribution: d.id, account: d.accountId)), "Status": .string(status(d)),
            "LastModifiedTime": .timestamp(d.lastModified), "InProgressInvalidationBatches": .integer(Int64(inProgressInvalidations)),
            "DomainName": .string(domainName(d.id)),
            "ActiveTrustedSigners": ["Enabled": false, "Quantity": 0], "ActiveTrustedKeyGroups": ["Enabled": false, "Quantity": 0],
            "DistributionConfig": ShapeValue(storageText: d.config),
        ]
    }

    /// A `DistributionSummary`: the config's members with AWS's defaults for the ones left out.
    func summaryShape(_ d: DistributionRecord) -> ShapeValue {
        var out = ShapeValue(storageText: d.config).members ?? [:]
        for member in ["CallerReference", "DefaultRootObject", "Logging", "ContinuousDeploymentPolicyId"] { out[member] = nil }
        let defaults: [String: ShapeValue] = [
            "Aliases": ["Quantity": 0], "CacheBehaviors": ["Quantity": 0], "CustomErrorResponses": ["Quantity": 0], "Comment": "",
            "PriceClass": "PriceClass_All", "WebACLId": "", "HttpVersion": "http2", "IsIPV6Enabled": true, "Staging": false,
            "ViewerCertificate": ["CloudFrontDefaultCertificate": true, "SSLSupportMethod": "vip", "MinimumProtocolVersion": "TLSv1", "CertificateSource": "cloudfront"],
            "Restrictions": ["GeoRestriction": ["RestrictionType": "none", "Quantity": 0]],
        ]
        for (k, v) in defaults where out[k] == nil { out[k] = v }
        out["Id"] = .string(d.id)
        out["ARN"] = .string(arn(distribution: d.id, account: d.accountId))
        out["ETag"] = .string(d.etag)
        out["Status"] = .string(status(d))
        out["LastModifiedTime"] = .timestamp(d.lastModified)
        out["DomainName"] = .string(domainName(d.id))
        return .structure(out)
    }

    /// Standard logging needs its bucket to exist.
    func checkLogging(_ config: ShapeValue) async throws {
        guard let logging = config["Logging"], logging["Enabled"]?.bool == true else { return }
        let domain = logging["Bucket"]?.string ?? ""
        guard let bucket = DistributionPlan.logBucket(domain), let logSink, await logSink.bucketOwner(bucket) != nil else {
            throw AWSError.cloudFrontInvalidArgument("The S3 bucket that you specified for CloudFront logs doesn't exist: \(domain)")
        }
    }

    /// Checks what AWS checks of a distribution config against the account's other resources.
    func validate(_ config: ShapeValue, _ db: Database, account: String, distribution: String?) throws -> [String] {
        let origins = config["Origins"]?["Items"]?.list ?? []
        guard !origins.isEmpty else {
            throw AWSError.cloudFrontInvalidArgument("The parameter Origins.Items is required and must contain at least one origin.")
        }
        var targets = Set(origins.compactMap { $0["Id"]?.string })
        guard targets.count == origins.count else {
            throw AWSError(code: "InvalidArgument", message: "The parameter origin ids must be unique within a distribution.")
        }
        for group in config["OriginGroups"]?["Items"]?.list ?? [] {
            for member in group["Members"]?["Items"]?.list ?? [] where !targets.contains(member["OriginId"]?.string ?? "") {
                throw AWSError.noSuchOrigin()
            }
            if let id = group["Id"]?.string { targets.insert(id) }
        }
        for origin in origins {
            if let oac = origin["OriginAccessControlId"]?.string, !oac.isEmpty {
                _ = try configRecord(db, .originAccessControl, id: oac, account: account)
            }
            if let path = origin["OriginPath"]?.string, !path.isEmpty, !path.hasPrefix("/") || path.hasSuffix("/") {
                throw AWSError.cloudFrontInvalidArgument("The parameter origin path must begin with a slash and must not end with a slash.")
            }
        }
        var behaviors = [config["DefaultCacheBehavior"] ?? .empty]
        behaviors += config["CacheBehaviors"]?["Items"]?.list ?? []
        for b in behaviors {
            guard targets.contains(b["TargetOriginId"]?.string ?? "") else { throw AWSError.noSuchOrigin() }
            if let id = b["CachePolicyId"]?.string, !id.isEmpty {
                _ = try configRecord(db, .cachePolicy, id: id, account: account)
            } else if b["ForwardedValues"] == nil {
                throw AWSError.cloudFrontInvalidArgument("The parameter ForwardedValues is required.")
            } else if b["MinTTL"] == nil {
                throw AWSError.cloudFrontInvalidArgument("The parameter MinTTL is required.")
            }
            if let id = b["OriginRequestPolicyId"]?.string, !id.isEmpty {
                _ = try configRecord(db, .originRequestPolicy, id: id, account: account)
            }
            if let id = b["ResponseHeadersPolicyId"]?.string, !id.isEmpty {
                _ = try configRecord(db, .responseHeadersPolicy, id: id, account: account)
            }
        }
        if let root = config["DefaultRootObject"]?.string, root.hasPrefix("/") {
            throw AWSError(code: "InvalidDefaultRootObject", message: "The specified default root object is invalid.")
        }
        for e in config["CustomErrorResponses"]?["Items"]?.list ?? [] {
            if let page = e["ResponsePagePath"]?.string, !page.isEmpty, !page.hasPrefix("/") {
                throw AWSError(code: "InvalidErrorCode", message: "The ResponsePagePath must begin with a slash.")
            }
        }
        let aliases = (config["Aliases"]?["Items"]?.list ?? []).compactMap { $0.string?.lowercased() }
        for alias in aliases {
            let others = try DistributionRecord.filter(Column("aliases").like("%\"\(alias)\"%")).fetchAll(db)
            if others.contains(where: { $0.id != distribution }) {
                throw AWSError(
                    code: "CNAMEAlreadyExists", message: "One or more of the CNAMEs you provided are already associated with a different resource.",
                    status: 409)
            }
        }
        return aliases
    }

    func createDistribution(_ call: OperationCall) async throws -> ShapeValue {
        try await create(config: call.input["DistributionConfig"] ?? .empty, tags: [], call)
    }

    func createDistributionWithTags(_ call: OperationCall) async throws -> ShapeValue {
        let withTags = call.input["DistributionConfigWithTags"] ?? .empty
        return try await create(config: withTags["DistributionConfig"] ?? .empty, tags: withTags["Tags"]?["Items"]?.list ?? [], call)
    }

    func create(config: ShapeValue, tags: [ShapeValue], _ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let now = clock.now
        let id = Self.newId("E")
        try await checkLogging(config)
        let record = try await write { db -> DistributionRecord in
            let reference = config["CallerReference"]?.string ?? ""
            if try DistributionRecord.filter(Column("accountId") == account && Column("callerReference") == reference).fetchCount(db) > 0 {
                throw AWSError(
                    code: "DistributionAlreadyExists",
                    message: "The caller reference that you are using to create a distribution is associated with another distribution.", status: 409)
            }
            let aliases = try self.validate(config, db, account: account, distribution: nil)
            let record = DistributionRecord(
                id: id, accountId: account, callerReference: reference, config: config.storageText, etag: Self.newETag(),
                enabled: config["Enabled"]?.bool ?? false, aliases: JSONValue.array(aliases.map { .string($0) }).serialized(),
                lastModified: now, deployedAt: self.deployedAt(from: now))
            try record.insert(db)
            for t in tags {
                try TagRecord(resource: self.arn(distribution: id, account: account), key: t["Key"]?.string ?? "", value: t["Value"]?.string ?? "")
                    .insert(db, onConflict: .replace)
            }
            return record
        }
        return [
            "Distribution": distributionShape(record), "ETag": .string(record.etag),
            "Location": .string("https://cloudfront.amazonaws.com/2020-05-31/distribution/\(id)"),
        ]
    }

    func distribution(_ db: Database, _ id: String, account: String) throws -> DistributionRecord {
        guard let d = try DistributionRecord.fetchOne(db, key: id), d.accountId == account else { throw AWSError.noSuchDistribution() }
        return d
    }

    func getDistribution(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        let now = clock.now
        let (d, pending) = try await store.read { db -> (DistributionRecord, Int) in
            let d = try self.distribution(db, id, account: account)
            let pending = try InvalidationRecord.filter(Column("distributionId") == id && Column("completedAt") > now.stored).fetchCount(db)
            return (d, pending)
        }
        return ["Distribution": distributionShape(d, inProgressInvalidations: pending), "ETag": .string(d.etag)]
    }

    func getDistributionConfig(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        let d = try await store.read { db in try self.distribution(db, id, account: account) }
        return ["DistributionConfig": ShapeValue(storageText: d.config), "ETag": .string(d.etag)]
    }

    func updateDistribution(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        let config = call.input["DistributionConfig"] ?? .empty
        let ifMatch = call.input["IfMatch"]?.string
        let now = clock.now
        try await checkLogging(config)
        let record = try await write { db -> DistributionRecord in
            var d = try self.distribution(db, id, account: account)
            try Self.checkIfMatch(ifMatch, current: d.etag)
            if let reference = config["CallerReference"]?.string, reference != d.callerReference {
                throw AWSError(code: "IllegalUpdate", message: "The update contains modifications that are not allowed: CallerReference cannot be changed.")
            }
            let aliases = try self.validate(config, db, account: account, distribution: id)
            d.config = config.storageText
            d.enabled = config["Enabled"]?.bool ?? false
            d.aliases = JSONValue.array(aliases.map { .string($0) }).serialized()
            d.etag = Self.newETag()
            d.lastModified = now
            d.deployedAt = self.deployedAt(from: now)
            try d.update(db)
            return d
        }
        return ["Distribution": distributionShape(record), "ETag": .string(record.etag)]
    }

    func deleteDistribution(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        let ifMatch = call.input["IfMatch"]?.string
        let now = clock.now
        try await write { db in
            let d = try self.distribution(db, id, account: account)
            try Self.checkIfMatch(ifMatch, current: d.etag)
            guard !d.enabled, now >= d.deployedAt else {
                throw AWSError(
                    code: "DistributionNotDisabled", message: "The distribution you are trying to delete has not been disabled.", status: 409)
            }
            try d.delete(db)
            try TagRecord.filter(Column("resource") == self.arn(distribution: id, account: account)).deleteAll(db)
        }
        edge.purge(distribution: id)
        return .empty
    }

    func listDistributions(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let all = try await store.read { db in
            try DistributionRecord.filter(Column("accountId") == account).order(Column("lastModified"), Column("id")).fetchAll(db)
        }
        let marker = call.input["Marker"]?.string
        let page = try Self.page(all, id: \.id, marker: marker, maxItems: call.input["MaxItems"]?.string)
        return ["DistributionList": Self.listShape(page.items.map(summaryShape), marker: marker, next: page.next, max: page.max)]
    }
}

extension AWSError {
    static func noSuchOrigin() -> AWSError {
        AWSError(code: "NoSuchOrigin", message: "One or more of your origins or origin groups do not exist.", status: 404)
    }
}
