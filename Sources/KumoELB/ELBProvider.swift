public import KumoCore
public import KumoProtocols
public import KumoStore
public import Logging
public import KumoProxy
import GRDB

/// Elastic Load Balancing v2 (application load balancers): the API in the store, and
/// `router` + `healthChecker`, the real balancer in front of EC2 instances and IP targets.
public struct ELBProvider: ServiceProvider {
    public let service = "elbv2"
    public let operations: [String: OperationHandler]
    public let router: Router
    public let healthChecker: HealthChecker
    /// Delivers access logs into their buckets; run it when `logSink` was given.
    public let logDelivery: LogBatchDelivery?
    let elb: ELB

    /// Delivers every load balancer's access log lines to CloudWatch Logs; run it when `logGroups` was given.
    public let logShipping: AccessLogShipping?

    /// `logSink` is where access logs go (S3); `logGroups` where every request is logged too (CloudWatch Logs).
    public init(
        store: Store, clock: KumoClock, hostSuffix: String, directory: any InstanceDirectory, metrics: ServiceMetrics?, logger: Logger,
        logSink: (any LogFileSink)? = nil, logGroups: (any LogSink)? = nil, certificates: (any CertificateSource)? = nil
    ) {
        let router = Router(
            store: store, directory: directory, clock: clock, logger: logger, metrics: metrics, certificates: certificates,
            feedsLogGroups: logGroups != nil)
        logShipping = router.logFeed.flatMap { feed in logGroups.map { AccessLogShipping(feed: feed, sink: $0) } }
        let elb = ELB(
            store: store, clock: clock, hostSuffix: hostSuffix, directory: directory, logSink: logSink, router: router, certificates: certificates)
        logDelivery = logSink.map { LogBatchDelivery(batches: router.accessLogs, sink: $0, clock: clock, interval: 300, logger: logger) }
        self.router = router
        self.elb = elb
        healthChecker = HealthChecker(router: router)
        metrics?.addGauges { router.activeConnections() }
        // Target health per target group and each load balancer that forwards to it (TargetGroup, LoadBalancer).
        metrics?.addGauges {
            let snapshot = router.snapshot
            return snapshot.groups.values.flatMap { g -> [(MetricKey, Double)] in
                let c = router.health.healthyCount(group: g.arn)
                let group = Router.groupDimension(g.arn)
                return Router.balancers(forwardingTo: g.arn, in: snapshot).flatMap { lb -> [(MetricKey, Double)] in
                    let dims = [("TargetGroup", group), ("LoadBalancer", Router.dimension(lb))]
                    return [
                        (MetricKey(namespace: "AWS/ApplicationELB", name: "HealthyHostCount", dimensions: dims), Double(c.healthy)),
                        (MetricKey(namespace: "AWS/ApplicationELB", name: "UnHealthyHostCount", dimensions: dims), Double(c.unhealthy)),
                    ]
                }
            }
        }
        operations = OperationHandler.table(elb, [
            "CreateLoadBalancer": ELB.createLoadBalancer,
            "DescribeLoadBalancers": ELB.describeLoadBalancers,
            "DeleteLoadBalancer": ELB.deleteLoadBalancer,
            "DescribeLoadBalancerAttributes": ELB.describeLoadBalancerAttributes,
            "ModifyLoadBalancerAttributes": ELB.modifyLoadBalancerAttributes,
            "AddTags": ELB.addTags,
            "RemoveTags": ELB.removeTags,
            "DescribeTags": ELB.describeTags,
            "CreateTargetGroup": ELB.createTargetGroup,
            "DescribeTargetGroups": ELB.describeTargetGroups,
            "ModifyTargetGroup": ELB.modifyTargetGroup,
            "DeleteTargetGroup": ELB.deleteTargetGroup,
            "DescribeTargetGroupAttributes": ELB.describeTargetGroupAttributes,
            "ModifyTargetGroupAttributes": ELB.modifyTargetGroupAttributes,
            "RegisterTargets": ELB.registerTargets,
            "DeregisterTargets": ELB.deregisterTargets,
            "DescribeTargetHealth": ELB.describeTargetHealth,
            "CreateListener": ELB.createListener,
            "DescribeListeners": ELB.describeListeners,
            "ModifyListener": ELB.modifyListener,
            "AddListenerCertificates": ELB.addListenerCertificates,
            "RemoveListenerCertificates": ELB.removeListenerCertificates,
            "DescribeListenerCertificates": ELB.describeListenerCertificates,
            "DeleteListener": ELB.deleteListener,
            "CreateRule": ELB.createRule,
            "DescribeRules": ELB.describeRules,
            "ModifyRule": ELB.modifyRule,
            "DeleteRule": ELB.deleteRule,
            "SetRulePriorities": ELB.setRulePriorities,
        ])
    }

    /// Reads the load balancers for the data plane; call once before serving.
    public func start() async throws { try await router.reload() }

    public func reset() async throws {
        try await elb.store.clear(tables: Self.tables)
        try await router.reload()
    }
}

extension ELBProvider: CertificateUsers {
    /// The load balancers whose listeners present the certificate (ACM's `InUseBy`).
    public func users(ofCertificate arn: String) async -> [String] {
        let listeners = (try? await elb.store.read { db in try ResourceRecord.filter(Column("kind") == "listener").fetchAll(db) }) ?? []
        return Array(Set(listeners.filter { ELB.certificates(of: $0).contains(arn) }.compactMap(\.parent))).sorted()
    }
}

extension ELBProvider: TargetRegistrar {
    public func register(instanceId: String, targetGroupArn: String) async throws {
        let group = try await elb.store.read { db in try ResourceRecord.fetchOne(db, key: targetGroupArn) }
        guard let group, group.kind == "targetgroup" else { throw AWSError.targetGroupNotFound() }
        let port = ShapeValue(storageText: group.body)["Port"]?.int ?? 80
        try await elb.write { db in try TargetRecord(targetGroupArn: targetGroupArn, targetId: instanceId, port: port, availabilityZone: nil).insert(db, onConflict: .replace) }
        router.health.registered(group: targetGroupArn, id: instanceId, port: port)
    }

    @discardableResult
    public func deregister(instanceId: String, targetGroupArn: String) async -> Double {
        let removed = try? await elb.write { db -> (Int, Double)? in
            guard let group = try ResourceRecord.fetchOne(db, key: targetGroupArn) else { return nil }
            let port = ShapeValue(storageText: group.body)["Port"]?.int ?? 80
            try TargetRecord.filter(Column("targetGroupArn") == targetGroupArn && Column("targetId") == instanceId).deleteAll(db)
            return (port, Double(ELB.attributes(group.attributes)["deregistration_delay.timeout_seconds"] ?? "300") ?? 300)
        }
        guard let (port, delay) = removed ?? nil else { return 0 }
        router.health.draining(group: targetGroupArn, id: instanceId, port: port, for: elb.clock.duration(awsSeconds: delay))
        return delay
    }

    public func exists(targetGroupArn: String) async -> Bool { router.snapshot.groups[targetGroupArn] != nil }

    public func health(instanceId: String, targetGroupArn: String) async -> String? {
        guard let group = router.snapshot.groups[targetGroupArn], let t = group.targets.first(where: { $0.id == instanceId }) else { return nil }
        return router.health.describe(group: targetGroupArn, id: instanceId, port: t.port, inUse: group.inUse).state
    }
}
