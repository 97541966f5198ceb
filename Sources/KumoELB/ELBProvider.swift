public import KumoCore
public import KumoProtocols
public import KumoStore
public import Logging

/// Elastic Load Balancing v2 (application load balancers): the API in the store, and
/// `router` + `healthChecker`, the real balancer in front of EC2 instances and IP targets.
public struct ELBProvider: ServiceProvider {
    public let service = "elbv2"
    public let operations: [String: OperationHandler]
    public let router: Router
    public let healthChecker: HealthChecker
    let elb: ELB

    public init(store: Store, clock: KumoClock, hostSuffix: String, directory: any InstanceDirectory, metrics: ServiceMetrics?, logger: Logger) {
        let router = Router(store: store, directory: directory, clock: clock, logger: logger, metrics: metrics)
        let elb = ELB(store: store, clock: clock, hostSuffix: hostSuffix, directory: directory, router: router)
        self.router = router
        self.elb = elb
        healthChecker = HealthChecker(router: router)
        metrics?.addGauges {
            router.snapshot.groups.values.flatMap { g -> [(MetricKey, Double)] in
                let c = router.health.healthyCount(group: g.arn)
                let dims = [("TargetGroup", String(g.arn.split(separator: ":").last ?? ""))]
                return [
                    (MetricKey(namespace: "AWS/ApplicationELB", name: "HealthyHostCount", dimensions: dims), Double(c.healthy)),
                    (MetricKey(namespace: "AWS/ApplicationELB", name: "UnHealthyHostCount", dimensions: dims), Double(c.unhealthy)),
                ]
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
