public import KumoCore
public import KumoProtocols
public import KumoStore
public import Logging
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
    /// Probes every health check's endpoint; run it beside the DNS server.
    public let healthChecker: HealthChecker

    /// `aliasTargets` gives the addresses behind an alias target that is an AWS resource's
    /// name (a CloudFront distribution, an S3 website endpoint, a load balancer): Kumo's edge.
    /// `locations` places DNS clients for latency and geolocation routing; `region` is where
    /// latency routing sends clients it cannot place.
    public init(
        store: Store, clock: KumoClock, region: String = "us-east-1", locations: ClientLocations = ClientLocations(),
        metrics: ServiceMetrics? = nil, logger: Logger = Logger(label: "kumo.route53"), directory: (any InstanceDirectory)? = nil,
        aliasTargets: @escaping @Sendable (_ name: String, _ type: String) -> [String] = { _, _ in [] }
    ) {
        let board = HealthBoard()
        let r53 = Route53(
            store: store, clock: clock, aliasTargets: aliasTargets, board: board, locations: locations, region: region, directory: directory)
        self.r53 = r53
        healthChecker = HealthChecker(board: board, clock: clock, logger: logger)
        // HealthCheckStatus: 1 while a check passes, 0 while it fails (AWS/Route53, per HealthCheckId).
        metrics?.addGauges {
            board.checks.compactMap { check in
                board.isHealthy(check.id).map { healthy in
                    (MetricKey(namespace: "AWS/Route53", name: "HealthCheckStatus", dimensions: [("HealthCheckId", check.id)]), healthy ? 1 : 0)
                }
            }
        }
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
            "CreateHealthCheck": Route53.createHealthCheck,
            "GetHealthCheck": Route53.getHealthCheck,
            "ListHealthChecks": Route53.listHealthChecks,
            "GetHealthCheckCount": Route53.getHealthCheckCount,
            "UpdateHealthCheck": Route53.updateHealthCheck,
            "DeleteHealthCheck": Route53.deleteHealthCheck,
            "GetHealthCheckStatus": Route53.getHealthCheckStatus,
            "GetHealthCheckLastFailureReason": Route53.getHealthCheckLastFailureReason,
            "TestDNSAnswer": Route53.testDNSAnswer,
            "AssociateVPCWithHostedZone": Route53.associateVPCWithHostedZone,
            "DisassociateVPCFromHostedZone": Route53.disassociateVPCFromHostedZone,
            "ListHostedZonesByVPC": Route53.listHostedZonesByVPC,
        ])
    }

    /// Loads the stored health checks, so they are probed again after a restart.
    public func start() async throws { try await r53.loadHealthChecks() }

    public func reset() async throws {
        try await r53.store.clear(tables: Self.tables)
        r53.zoneCache.invalidate()
        r53.board.clear()
    }
}

extension Route53Provider: DNSAnswerSource {
    public func answer(name: String, type: String, client: DNSClient) async -> DNSAnswer {
        (try? await r53.answer(name: name, type: type, client: client)) ?? .refused
    }

    public func answerNow(name: String, type: String, client: DNSClient) -> DNSAnswerNow? {
        r53.answerNow(name: name, type: type, client: client)
    }

    public var answersVersion: UInt64 { r53.zoneCache.generation }
}

struct Route53: Sendable {
    let store: Store
    let clock: KumoClock
    let aliasTargets: @Sendable (String, String) -> [String]
    let board: HealthBoard
    let locations: ClientLocations
    let region: String
    /// Where instances and VPCs are, for private hosted zones.
    let directory: (any InstanceDirectory)?
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
