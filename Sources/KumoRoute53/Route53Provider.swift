public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Amazon Route 53: hosted zones and record sets in the store, answered for real by
/// Kumo's DNS server (it is the `DNSAnswerSource`).
public struct Route53Provider: ServiceProvider {
    public let service = "route53"
    public let operations: [String: OperationHandler]
    let r53: Route53

    /// `aliasTargets` gives the addresses behind an alias target that is an AWS resource's
    /// name (a CloudFront distribution, an S3 website endpoint, a load balancer): Kumo's edge.
    public init(store: Store, clock: KumoClock, aliasTargets: @escaping @Sendable (_ name: String, _ type: String) -> [String] = { _, _ in [] }) {
        let r53 = Route53(store: store, clock: clock, aliasTargets: aliasTargets)
        self.r53 = r53
        operations = OperationHandler.table(r53, [
            "CreateHostedZone": Route53.createHostedZone,
            "GetHostedZone": Route53.getHostedZone,
            "ListHostedZones": Route53.listHostedZones,
            "DeleteHostedZone": Route53.deleteHostedZone,
            "ChangeResourceRecordSets": Route53.changeResourceRecordSets,
            "ListResourceRecordSets": Route53.listResourceRecordSets,
            "GetChange": Route53.getChange,
            "GetHostedZoneCount": Route53.getHostedZoneCount,
            "ListHostedZonesByName": Route53.listHostedZonesByName,
            "UpdateHostedZoneComment": Route53.updateHostedZoneComment,
        ])
    }

    public func reset() async throws {
        try await r53.store.clear(tables: Self.tables)
        r53.zoneCache.invalidate()
    }
}

extension Route53Provider: DNSAnswerSource {
    public func answer(name: String, type: String) async -> DNSAnswer {
        (try? await r53.answer(name: name, type: type)) ?? .refused
    }
}

struct Route53: Sendable {
    let store: Store
    let clock: KumoClock
    let aliasTargets: @Sendable (String, String) -> [String]
    let zoneCache = ZoneCache()

    /// A write to zones or records; the DNS server's snapshot is dropped after it.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        defer { zoneCache.invalidate() }
        return try await store.write(body)
    }
    static let nameServers = ["ns-1.kumo.localhost.", "ns-2.kumo.localhost."]

    static func fqdn(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") ? lower : lower + "."
    }

    /// Zone and change ids: `Z` / `C` and 20 upper-case letters and digits.
    static func newId(_ prefix: String) -> String { ResourceID.iam(prefix, length: 20) }

    /// `/hostedzone/Z123` or `Z123` → `Z123`.
    static func bareId(_ id: String) -> String { String(id.split(separator: "/").last ?? "") }
}

extension AWSError {
    static func noSuchHostedZone(_ id: String) -> AWSError {
        AWSError(code: "NoSuchHostedZone", message: "No hosted zone found with ID: \(id)", status: 404)
    }

    static func invalidChangeBatch(_ messages: [String]) -> AWSError {
        AWSError(code: "InvalidChangeBatch", message: "[" + messages.joined(separator: ", ") + "]")
    }
}
