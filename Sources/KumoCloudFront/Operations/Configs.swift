import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A CloudFront resource that is an id, an ETag and a config: origin access controls and
/// the three kinds of policies. One set of operations serves them all.
struct ConfigKind: Sendable {
    /// The store's `kind` column.
    var kind: String
    /// The resource's shape name (`CachePolicy`) and its config member (`CachePolicyConfig`).
    var resource: String
    var configMember: String { resource + "Config" }
    var listMember: String { resource + "List" }
    /// The name as AWS's error messages spell it ("cache policy").
    var words: String
    var managed: [(id: String, config: ShapeValue)]
    /// Origin access controls use distribution-style ids and flat summaries without a type.
    var isOAC: Bool

    static let originAccessControl = ConfigKind(
        kind: "oac", resource: "OriginAccessControl", words: "origin access control", managed: [], isOAC: true)
    static let cachePolicy = ConfigKind(kind: "cache-policy", resource: "CachePolicy", words: "cache policy", managed: ManagedPolicies.cache, isOAC: false)
    static let originRequestPolicy = ConfigKind(
        kind: "origin-request-policy", resource: "OriginRequestPolicy", words: "origin request policy", managed: ManagedPolicies.originRequest,
        isOAC: false)
    static let responseHeadersPolicy = ConfigKind(
        kind: "response-headers-policy", resource: "ResponseHeadersPolicy", words: "response headers policy",
        managed: ManagedPolicies.responseHeaders, isOAC: false)

    func noSuch() -> AWSError {
        AWSError(code: "NoSuch" + resource, message: "The \(words) does not exist.", status: 404)
    }

    func alreadyExists() -> AWSError {
        AWSError(code: resource + "AlreadyExists", message: "A \(words) with this name already exists.", status: 409)
    }

    func inUse() -> AWSError {
        AWSError(code: resource + "InUse", message: "Cannot delete \(words) because it is attached to one or more distributions.", status: 409)
    }

    func managedIsReadOnly() -> AWSError {
        AWSError(code: "IllegalUpdate", message: "Managed \(words)s cannot be changed or deleted.")
    }

    static let epoch = Date(timeIntervalSince1970: 1_577_836_800)
}

extension CloudFront {
    func resourceShape(_ kind: ConfigKind, id: String, config: ShapeValue, lastModified: Date) -> ShapeValue {
        var out: [String: ShapeValue] = ["Id": .string(id), kind.configMember: config]
        if !kind.isOAC { out["LastModifiedTime"] = .timestamp(lastModified) }
        return .structure(out)
    }

    func summaryShape(_ kind: ConfigKind, id: String, config: ShapeValue, lastModified: Date, managed: Bool) -> ShapeValue {
        if kind.isOAC {
            var out = config.members ?? [:]
            out["Id"] = .string(id)
            if out["Description"] == nil { out["Description"] = "" }
            return .structure(out)
        }
        return ["Type": managed ? "managed" : "custom", kind.resource: resourceShape(kind, id: id, config: config, lastModified: lastModified)]
    }

    /// The record for an id in the caller's account (managed policies are everyone's).
    func configRecord(_ db: Database, _ kind: ConfigKind, id: String, account: String) throws -> ConfigRecord {
        if let m = kind.managed.first(where: { $0.id == id }) {
            return ConfigRecord(
                kind: kind.kind, id: id, accountId: account, name: m.config["Name"]?.string ?? "", config: m.config.storageText,
                etag: "E23ZP02F085DFQ", lastModified: ConfigKind.epoch)
        }
        guard let r = try ConfigRecord.fetchOne(db, key: ["kind": kind.kind, "id": id]), r.accountId == account else { throw kind.noSuch() }
        return r
    }

    func createConfig(_ kind: ConfigKind, _ call: OperationCall) async throws -> ShapeValue {
        let config = call.input[kind.configMember] ?? .empty
        let name = config["Name"]?.string ?? ""
        try validate(kind, config)
        let record = ConfigRecord(
            kind: kind.kind, id: kind.isOAC ? Self.newId("E") : UUID().uuidString.lowercased(), accountId: call.context.accountId,
            name: name, config: config.storageText, etag: Self.newETag(), lastModified: clock.now)
        try await write { db in
            let taken = try ConfigRecord.filter(Column("kind") == kind.kind && Column("accountId") == record.accountId && Column("name") == name)
                .fetchCount(db) > 0
            if taken || kind.managed.contains(where: { $0.config["Name"]?.string == name }) { throw kind.alreadyExists() }
            try record.insert(db)
        }
        return [
            kind.resource: resourceShape(kind, id: record.id, config: config, lastModified: record.lastModified),
            "ETag": .string(record.etag), "Location": .string("https://cloudfront.amazonaws.com/2020-05-31/\(kind.kind)/\(record.id)"),
        ]
    }

    func getConfig(_ kind: ConfigKind, _ call: OperationCall, configOnly: Bool) async throws -> ShapeValue {
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        let r = try await store.read { db in try self.configRecord(db, kind, id: id, account: account) }
        let config = ShapeValue(storageText: r.config)
        if configOnly { return [kind.configMember: config, "ETag": .string(r.etag)] }
        return [kind.resource: resourceShape(kind, id: r.id, config: config, lastModified: r.lastModified), "ETag": .string(r.etag)]
    }

    func updateConfig(_ kind: ConfigKind, _ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        if kind.managed.contains(where: { $0.id == id }) { throw kind.managedIsReadOnly() }
        let config = call.input[kind.configMember] ?? .empty
        try validate(kind, config)
        let ifMatch = call.input["IfMatch"]?.string
        let now = clock.now
        let updated = try await write { db -> ConfigRecord in
            var r = try self.configRecord(db, kind, id: id, account: account)
            try Self.checkIfMatch(ifMatch, current: r.etag)
            r.config = config.storageText
            r.name = config["Name"]?.string ?? r.name
            r.etag = Self.newETag()
            r.lastModified = now
            try r.update(db)
            return r
        }
        return [kind.resource: resourceShape(kind, id: id, config: config, lastModified: now), "ETag": .string(updated.etag)]
    }

    func deleteConfig(_ kind: ConfigKind, _ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["Id"]?.string ?? ""
        let account = call.context.accountId
        if kind.managed.contains(where: { $0.id == id }) { throw kind.managedIsReadOnly() }
        let ifMatch = call.input["IfMatch"]?.string
        try await write { db in
            let r = try self.configRecord(db, kind, id: id, account: account)
            try Self.checkIfMatch(ifMatch, current: r.etag)
            let users = try DistributionRecord.filter(Column("accountId") == account && Column("config").like("%\"\(id)\"%")).fetchCount(db)
            if users > 0 { throw kind.inUse() }
            try r.delete(db)
        }
        return .empty
    }

    func listConfigs(_ kind: ConfigKind, _ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let type = call.input["Type"]?.string
        let records = try await store.read { db in
            try ConfigRecord.filter(Column("kind") == kind.kind && Column("accountId") == account).order(Column("lastModified"), Column("id")).fetchAll(db)
        }
        var all: [(id: String, shape: ShapeValue)] = []
        if type != "custom" {
            all += kind.managed.map { ($0.id, summaryShape(kind, id: $0.id, config: $0.config, lastModified: ConfigKind.epoch, managed: true)) }
        }
        if type != "managed" {
            all += records.map { ($0.id, summaryShape(kind, id: $0.id, config: ShapeValue(storageText: $0.config), lastModified: $0.lastModified, managed: false)) }
        }
        let marker = call.input["Marker"]?.string
        let page = try Self.page(all, id: \.id, marker: marker, maxItems: call.input["MaxItems"]?.string)
        let list = Self.listShape(page.items.map(\.shape), marker: marker, next: page.next, max: page.max, truncation: kind.isOAC)
        if !kind.isOAC, case .structure(var m) = list {
            m["Marker"] = nil
            return [kind.listMember: .structure(m)]
        }
        return [kind.listMember: list]
    }

    func validate(_ kind: ConfigKind, _ config: ShapeValue) throws {
        guard kind.kind == "cache-policy" else { return }
        let min = config["MinTTL"]?.int ?? 0
        let def = config["DefaultTTL"]?.int ?? Swift.max(min, 86400)
        let max = config["MaxTTL"]?.int ?? Swift.max(def, 31_536_000)
        guard min <= def, def <= max else {
            throw AWSError.cloudFrontInvalidArgument("The TTL values must satisfy MinTTL <= DefaultTTL <= MaxTTL.")
        }
    }
}
