public import KumoCore
public import KumoProtocols
public import KumoStore
public import Logging
public import KumoProxy

/// Amazon CloudFront: distributions and their configuration in the store, served for real
/// by `edge` (a caching reverse proxy in front of S3 buckets and HTTP origins).
public struct CloudFrontProvider: ServiceProvider {
    public let service = "cloudfront"
    public let operations: [String: OperationHandler]
    public let edge: CloudFrontEdge
    /// Delivers standard logs into their buckets; run it when `logSink` was given.
    public let logDelivery: LogBatchDelivery?
    let cf: CloudFront

    /// `logSink` is where standard logs go (S3).
    public init(
        store: Store, clock: KumoClock, hostSuffix: String, edgeConfiguration: CloudFrontEdge.Configuration, metrics: ServiceMetrics?,
        logger: Logger, logSink: (any LogFileSink)? = nil
    ) {
        let edge = CloudFrontEdge(
            configuration: edgeConfiguration, distributions: DistributionSnapshot(store: store, hostSuffix: hostSuffix), clock: clock,
            logger: logger, metrics: metrics, hostSuffix: hostSuffix)
        let cf = CloudFront(store: store, clock: clock, hostSuffix: hostSuffix, edge: edge, logSink: logSink)
        logDelivery = logSink.map { LogBatchDelivery(batches: edge.standardLogs, sink: $0, clock: clock, interval: 60, logger: logger) }
        self.edge = edge
        self.cf = cf
        metrics?.addGauges { edge.gauges() }
        var table = OperationHandler.table(cf, [
            "CreateDistribution": CloudFront.createDistribution,
            "CreateDistributionWithTags": CloudFront.createDistributionWithTags,
            "GetDistribution": CloudFront.getDistribution,
            "GetDistributionConfig": CloudFront.getDistributionConfig,
            "UpdateDistribution": CloudFront.updateDistribution,
            "DeleteDistribution": CloudFront.deleteDistribution,
            "ListDistributions": CloudFront.listDistributions,
            "CreateInvalidation": CloudFront.createInvalidation,
            "GetInvalidation": CloudFront.getInvalidation,
            "ListInvalidations": CloudFront.listInvalidations,
            "ListTagsForResource": CloudFront.listTagsForResource,
            "TagResource": CloudFront.tagResource,
            "UntagResource": CloudFront.untagResource,
        ])
        let kinds: [ConfigKind] = [.originAccessControl, .cachePolicy, .originRequestPolicy, .responseHeadersPolicy]
        for kind in kinds {
            let r = kind.resource
            table["Create" + r] = OperationHandler { try await cf.createConfig(kind, $0) }
            table["Get" + r] = OperationHandler { try await cf.getConfig(kind, $0, configOnly: false) }
            table["Get" + r + "Config"] = OperationHandler { try await cf.getConfig(kind, $0, configOnly: true) }
            table["Update" + r] = OperationHandler { try await cf.updateConfig(kind, $0) }
            table["Delete" + r] = OperationHandler { try await cf.deleteConfig(kind, $0) }
            table[kind.isOAC ? "ListOriginAccessControls" : "List" + r.replacing("Policy", with: "Policies")] = OperationHandler {
                try await cf.listConfigs(kind, $0)
            }
        }
        operations = table
    }

    /// Reads the distributions for the edge; call once before serving.
    public func start() async throws {
        try await edge.distributions.reload()
    }

    public func reset() async throws {
        try await cf.store.clear(tables: Self.tables)
        try await edge.distributions.reload()
        for cache in edge.caches { cache.removeAll() }
    }
}
