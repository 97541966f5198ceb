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
    func invalidationShape(_ i: InvalidationRecord) -> ShapeValue {
        let paths = (try? JSONValue.parse(i.paths))?.array?.compactMap(\.string) ?? []
        return [
            "Id": .string(i.id), "Status": .string(clock.now >= i.completedAt ? "Completed" : "InProgress"), "CreateTime": .timestamp(i.created),
            "InvalidationBatch": ["CallerReference": .string(i.callerReference), "Paths": ManagedPolicies.items(paths)],
        ]
    }

    /// Drops the paths from every edge's cache, then records the invalidation. The edges
    /// are in this process, so it is complete when the call returns; the status still reads
    /// InProgress for a moment (scaled by the clock), as clients that wait for it expect.
    func createInvalidation(_ call: OperationCall) async throws -> ShapeValue {
        let distributionId = call.input["DistributionId"]?.string ?? ""
        let account = call.context.accountId
        let batch = call.input["InvalidationBatch"] ?? .empty
        let reference = batch["CallerReference"]?.string ?? ""
        let paths = (batch["Paths"]?["Items"]?.list ?? []).compactMap(\.string)
        guard !paths.isEmpty, batch["Paths"]?["Quantity"]?.int == paths.count else {
            throw AWSError(code: "InvalidArgument", message: "Your request contains one or more invalid invalidation paths.")
        }
        for p in paths where !p.hasPrefix("/") || p.dropLast().contains("*") {
            throw AWSError(code: "InvalidArgument", message: "Your request contains one or more invalid invalidation paths.")
        }
        let now = clock.now
        let record = InvalidationRecord(
            id: Self.newId("I"), distributionId: distributionId, callerReference: reference,
            paths: JSONValue.array(paths.map { .string($0) }).serialized(), created: now, completedAt: now.addingTimeInterval(0.5 * clock.timeScale))
        let existing = try await store.write { db -> InvalidationRecord? in
            _ = try self.distribution(db, distributionId, account: account)
            if let same = try InvalidationRecord.filter(Column("distributionId") == distributionId && Column("callerReference") == reference).fetchOne(db) {
                guard same.paths == record.paths else {
                    throw AWSError(
                        code: "InvalidationBatchAlreadyExists",
                        message: "The CallerReference you used for this invalidation batch is already associated with a different batch.", status: 409)
                }
                return same
            }
            try record.insert(db)
            return nil
        }
        if let existing {
            return ["Invalidation": invalidationShape(existing), "Location": .string(location(existing))]
        }
        edge.invalidate(distribution: distributionId, paths: paths)
        return ["Invalidation": invalidationShape(record), "Location": .string(location(record))]
    }

    func location(_ i: InvalidationRecord) -> String {
        "https://cloudfront.amazonaws.com/2020-05-31/distribution/\(i.distributionId)/invalidation/\(i.id)"
    }

    func getInvalidation(_ call: OperationCall) async throws -> ShapeValue {
        let distributionId = call.input["DistributionId"]?.string ?? ""
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        let i = try await store.read { db -> InvalidationRecord in
            _ = try self.distribution(db, distributionId, account: account)
            guard let i = try InvalidationRecord.fetchOne(db, key: id), i.distributionId == distributionId else {
                throw AWSError(code: "NoSuchInvalidation", message: "The specified invalidation does not exist.", status: 404)
            }
            return i
        }
        return ["Invalidation": invalidationShape(i)]
    }

    func listInvalidations(_ call: OperationCall) async throws -> ShapeValue {
        let distributionId = call.input["DistributionId"]?.string ?? ""
        let account = call.context.accountId
        let all = try await store.read { db -> [InvalidationRecord] in
            _ = try self.distribution(db, distributionId, account: account)
            return try InvalidationRecord.filter(Column("distributionId") == distributionId).order(Column("created").desc, Column("id")).fetchAll(db)
        }
        let marker = call.input["Marker"]?.string
        let page = try Self.page(all, id: \.id, marker: marker, maxItems: call.input["MaxItems"]?.string)
        let now = clock.now
        let items: [ShapeValue] = page.items.map {
            ["Id": .string($0.id), "CreateTime": .timestamp($0.created), "Status": .string(now >= $0.completedAt ? "Completed" : "InProgress")]
        }
        return ["InvalidationList": Self.listShape(items, marker: marker, next: page.next, max: page.max)]
    }

    // MARK: tags

    func taggedDistribution(_ db: Database, _ arn: String, account: String) throws {
        guard let parsed = ARN(arn), parsed.service == "cloudfront", parsed.resource.hasPrefix("distribution/") else {
            throw AWSError(code: "InvalidArgument", message: "An invalid ARN was provided: \(arn)")
        }
        _ = try distribution(db, String(parsed.resource.dropFirst("distribution/".count)), account: account)
    }

    func listTagsForResource(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["Resource"]?.string ?? ""
        let account = call.context.accountId
        let tags = try await store.read { db -> [TagRecord] in
            try self.taggedDistribution(db, arn, account: account)
            return try TagRecord.filter(Column("resource") == arn).order(Column("key")).fetchAll(db)
        }
        return ["Tags": ["Items": .list(tags.map { ["Key": .string($0.key), "Value": .string($0.value)] })]]
    }

    func tagResource(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["Resource"]?.string ?? ""
        let account = call.context.accountId
        let tags = call.input["Tags"]?["Items"]?.list ?? []
        try await store.write { db in
            try self.taggedDistribution(db, arn, account: account)
            for t in tags {
                try TagRecord(resource: arn, key: t["Key"]?.string ?? "", value: t["Value"]?.string ?? "").insert(db, onConflict: .replace)
            }
        }
        return .empty
    }

    func untagResource(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["Resource"]?.string ?? ""
        let account = call.context.accountId
        let keys = (call.input["TagKeys"]?["Items"]?.list ?? []).compactMap(\.string)
        try await store.write { db in
            try self.taggedDistribution(db, arn, account: account)
            try TagRecord.filter(Column("resource") == arn && keys.contains(Column("key"))).deleteAll(db)
        }
        return .empty
    }
}
