import KumoCore
public import KumoProtocols
import GRDB
import KumoProxy
import KumoStore
import Logging
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The application load balancers' data plane: a snapshot of every load balancer, listener,
/// rule and target group (rebuilt after each API write), request routing by listener rules,
/// and proxying to healthy targets.
public final class Router: Sendable {
    /// A load balancer as the data plane sees it. A class, made once per snapshot: a request passes it
    /// around by reference instead of copying a dozen strings and collections.
    final class Balancer: Sendable {
        let arn: String
        let dnsName: String
        let idleTimeout: Int
        /// Listeners by port, each with its rules in priority order (default last).
        let listeners: [Int: [Rule]]
        /// Access logs: the bucket and key prefix, when `access_logs.s3.enabled`.
        let accessLogs: (bucket: String, prefix: String)?
        /// The ports of HTTPS listeners.
        let httpsPorts: Set<Int>
        /// Security groups given at creation; their ingress rules decide which clients get in.
        let securityGroups: [String]
        /// Its subnets (where its nodes' addresses are, for the targets' security groups).
        let subnets: [String]

        /// `app/<name>/<id>`: its LoadBalancer dimension.
        let dimension: String
        /// Its metric counters, made once: per load balancer, and per load balancer and target group.
        let counters: MetricCounters
        let groupCounters: [String: MetricCounters]
        /// How many of its access log lines the CloudWatch Logs feed took for its next delivery.
        let feedQuota = AccessLogFeed.Quota()
        /// `routing.http.xff_header_processing.mode`: `append` (the default), `preserve` or `remove`.
        let forwardedForMode: String

        init(
            arn: String, dnsName: String, idleTimeout: Int, listeners: [Int: [Rule]],
            accessLogs: (bucket: String, prefix: String)?, httpsPorts: Set<Int>, securityGroups: [String], subnets: [String],
            dimension: String, counters: MetricCounters, groupCounters: [String: MetricCounters], forwardedForMode: String = "append"
        ) {
            self.forwardedForMode = forwardedForMode
            (self.arn, self.dnsName, self.idleTimeout, self.listeners, self.accessLogs, self.httpsPorts) = (
                arn, dnsName, idleTimeout, listeners, accessLogs, httpsPorts
            )
            (self.securityGroups, self.subnets, self.dimension, self.counters, self.groupCounters) = (securityGroups, subnets, dimension, counters, groupCounters)
        }

        /// What a listener's clients speak: `https` or `http`.
        func scheme(_ port: Int) -> String { httpsPorts.contains(port) ? "https" : "http" }
    }

    /// A listener rule as requests meet it: its conditions, its actions by `Order`, and the target
    /// groups (with weights) its first action forwards to, read from the action once.
    struct Rule: Sendable {
        let conditions: [ShapeValue]
        let actions: [ShapeValue]
        let forward: [(arn: String, weight: Int)]
        /// Whether its first action is `forward`.
        let forwards: Bool
        /// Target group stickiness (`ForwardConfig.TargetGroupStickinessConfig`): how long the
        /// `AWSALBTG` cookie holds a client to the group it was sent to.
        let groupStickiness: Int?

        init(conditions: [ShapeValue], actions: [ShapeValue]) {
            self.conditions = conditions
            self.actions = actions
            forwards = actions.first?["Type"]?.string == "forward"
            forward = forwards ? actions.first.map(Router.forwardGroups) ?? [] : []
            let sticky = actions.first?["ForwardConfig"]?["TargetGroupStickinessConfig"]
            groupStickiness = forwards && sticky?["Enabled"]?.bool == true ? sticky?["DurationSeconds"]?.int : nil
        }
    }

    /// The `AWS/ApplicationELB` counters a request adds to, for one set of dimensions.
    final class MetricCounters: Sendable {
        let requestCount, elb5xx, targetResponseTime: MetricCounter
        /// HTTPCode_Target_2XX_Count ... by the status's first digit (index 0 unused).
        let targetCodes: [MetricCounter]

        init(_ dimensions: [(String, String)], metrics: ServiceMetrics?) {
            func counter(_ name: String) -> MetricCounter { Router.counter(name, dimensions, metrics: metrics) }
            requestCount = counter("RequestCount")
            elb5xx = counter("HTTPCode_ELB_5XX_Count")
            targetResponseTime = counter("TargetResponseTime")
            targetCodes = (0...5).map { counter("HTTPCode_Target_\($0)XX_Count") }
        }
    }

    /// An `AWS/ApplicationELB` counter: the collected one, or one of its own when nothing collects metrics.
    static func counter(_ name: String, _ dimensions: [(String, String)], metrics: ServiceMetrics?) -> MetricCounter {
        let key = MetricKey(namespace: "AWS/ApplicationELB", name: name, dimensions: dimensions)
        return metrics?.counter(key) ?? MetricCounter(key)
    }

    /// A target group as the data plane sees it; a class for the same reason as `Balancer`.
    final class Group: Sendable {
        let arn: String
        let port: Int
        let targetType: String
        let healthCheck: ShapeValue
        let leastOutstanding: Bool
        let targets: [(id: String, port: Int)]
        let inUse: Bool
        /// Stickiness: how long a cookie holds a client to its target, and whose cookie starts it.
        let stickiness: Stickiness?
        /// `slow_start.duration_seconds`, scaled by the clock.
        let slowStart: Duration?
        /// RequestCountPerTarget's counter (TargetGroup dimension only).
        let perTarget: MetricCounter

        init(
            arn: String, port: Int, targetType: String, healthCheck: ShapeValue, leastOutstanding: Bool, targets: [(id: String, port: Int)],
            inUse: Bool, stickiness: Stickiness?, slowStart: Duration?, perTarget: MetricCounter
        ) {
            (self.arn, self.port, self.targetType, self.healthCheck, self.leastOutstanding) = (arn, port, targetType, healthCheck, leastOutstanding)
            (self.targets, self.inUse, self.stickiness, self.slowStart, self.perTarget) = (targets, inUse, stickiness, slowStart, perTarget)
        }
    }

    struct Snapshot: Sendable {
        var balancers: [String: Balancer] = [:]
        var byHost: [String: String] = [:]
        var groups: [String: Group] = [:]
        /// Listener ARN → its load balancer, name, port and (HTTPS) certificate ARNs, the default first.
        var listenerPorts: [String: (lb: String, name: String, port: Int, certificates: [String])] = [:]
    }

    let store: Store
    let directory: any InstanceDirectory
    let clock: KumoClock
    let logger: Logger
    let metrics: ServiceMetrics?
    let client = UpstreamClient()
    /// Security group decisions by load balancer, port and client address, for a second.
    let admissions = Mutex<[String: (allowed: Bool, until: ContinuousClock.Instant)]>([:])
    /// Where HTTPS listeners' certificates come from (ACM).
    let certificates: (any CertificateSource)?
    let health = HealthBoard()
    /// Access log lines waiting for delivery: to S3 files, and (when there is a feed) to CloudWatch Logs.
    let accessLogs = AccessLogs.batches()
    let logFeed: AccessLogFeed?
    /// Client connections (address:port) per load balancer, and when each last carried a request.
    let clientConnections = Mutex<[String: [ClientAddress: ContinuousClock.Instant]]>([:])

    /// A client connection's address and port.
    struct ClientAddress: Hashable {
        var address: String
        var port: Int
    }
    let state = Mutex(Snapshot())
    /// Listener ports: who opens them, whether to try each listener's own port first, and
    /// what is open now (listener ARN → listener port, bound port and the certificates it presents).
    let ports = Mutex<(binder: (any PortBinder)?, ownPorts: Bool, bound: [String: (listener: Int, port: Int, certificates: [String])])>((nil, false, [:]))

    init(
        store: Store, directory: any InstanceDirectory, clock: KumoClock, logger: Logger, metrics: ServiceMetrics?,
        certificates: (any CertificateSource)?, feedsLogGroups: Bool = false
    ) {
        self.certificates = certificates
        logFeed = feedsLogGroups ? AccessLogFeed() : nil
        self.store = store
        self.directory = directory
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
    }

    var snapshot: Snapshot { state.withLock { $0 } }

    /// Gives every listener a real port: its own when `ownPorts` and it is free, else any free one.
    public func attach(binder: any PortBinder, ownPorts: Bool) {
        ports.withLock { $0.binder = binder; $0.ownPorts = ownPorts }
    }

    /// Opens ports for new listeners and closes those of deleted ones (the health checker's loop calls this).
    func syncPorts() async {
        let (binder, ownPorts, bound) = ports.withLock { ($0.binder, $0.ownPorts, $0.bound) }
        guard let binder else { return }
        let wanted = snapshot.listenerPorts
        // A listener that moved to another port or changed certificates is opened again.
        for (arn, open) in bound where wanted[arn].map({ $0.port != open.listener || $0.certificates != open.certificates }) ?? true {
            await binder.unbind(port: open.port)
            _ = ports.withLock { $0.bound.removeValue(forKey: arn) }
        }
        let stillBound = ports.withLock { $0.bound }
        for (arn, want) in wanted where stillBound[arn] == nil {
            let lb = want.lb
            let listenerPort = want.port
            let label = "elb \(want.name):\(listenerPort)"
            var tls: ServerTLS?
            if !want.certificates.isEmpty {
                var found: [ServerCertificate] = []
                for c in want.certificates { if let certificate = await certificates?.serverCertificate(arn: c) { found.append(certificate) } }
                guard !found.isEmpty else {
                    logger.warning("load balancer listener \(want.name):\(listenerPort) has no usable certificate; not serving it")
                    continue
                }
                tls = ServerTLS(certificates: found)
            }
            let service = ListenerService(
                handle: { [self] request in
                    var request = request
                    request.name = lb
                    return await self.handle(request, listenerPort: listenerPort)
                },
                upgrade: { [self] request in
                    var request = request
                    request.name = lb
                    return await upgradeTarget(request, listenerPort: listenerPort)
                },
                forward: { [self] request in
                    var request = request
                    request.name = lb
                    return exchange(for: request, listenerPort: listenerPort)
                },
                idleTimeout: { [self] in state.withLock { $0.balancers[lb]?.idleTimeout } })
            var port: Int?
            if ownPorts { port = try? await binder.bind(port: listenerPort, label: label, tls: tls, service: service) }
            if port == nil {
                do { port = try await binder.bind(port: 0, label: label, tls: tls, service: service) } catch {
                    logger.warning("load balancer listener \(want.name):\(listenerPort) could not be opened: \(error)")
                }
            }
            if let port {
                ports.withLock { $0.bound[arn] = (listenerPort, port, want.certificates) }
                logger.info("load balancer listener \(want.name):\(listenerPort) serves on port \(port)")
            }
        }
    }

    /// A target group's stickiness: `lb_cookie` (the balancer's `AWSALB` cookie from the first
    /// answer) or `app_cookie` (the balancer's `AWSALBAPP-0` cookie once the target sets the
    /// application's cookie).
    struct Stickiness: Sendable, Equatable {
        var seconds: Int
        /// The application cookie's name, for `app_cookie`.
        var appCookie: String?
    }

    static func stickiness(_ attributes: [String: String]) -> Stickiness? {
        guard attributes["stickiness.enabled"] == "true" else { return nil }
        switch attributes["stickiness.type"] ?? "lb_cookie" {
        case "lb_cookie":
            return Stickiness(seconds: Int(attributes["stickiness.lb_cookie.duration_seconds"] ?? "86400") ?? 86400)
        case "app_cookie":
            guard let name = attributes["stickiness.app_cookie.cookie_name"], !name.isEmpty else { return nil }
            return Stickiness(seconds: Int(attributes["stickiness.app_cookie.duration_seconds"] ?? "86400") ?? 86400, appCookie: name)
        default:
            return nil
        }
    }

    func reload() async throws {
        let next = try await store.read { db -> Snapshot in
            var s = Snapshot()
            let all = try ResourceRecord.fetchAll(db)
            let rules = all.filter { $0.kind == "rule" }
            var used = Set<String>()
            for lb in all where lb.kind == "loadbalancer" {
                let shape = ShapeValue(storageText: lb.body)
                var listeners: [Int: [Rule]] = [:]
                var httpsPorts: Set<Int> = []
                for l in all where l.kind == "listener" && l.parent == lb.arn {
                    let body = ShapeValue(storageText: l.body)
                    let port = body["Port"]?.int ?? 80
                    let https = body["Protocol"]?.string == "HTTPS"
                    if https { httpsPorts.insert(port) }
                    s.listenerPorts[l.arn] = (lb.arn, lb.name, port, https ? ELB.certificates(of: l) : [])
                    listeners[port] = ELB.ordered(rules.filter { $0.parent == l.arn }).map { r in
                        let body = ShapeValue(storageText: r.body)
                        used.formUnion(ELB.forwardedGroups(body["Actions"]?.list ?? []))
                        let actions = (body["Actions"]?.list ?? []).sorted { ($0["Order"]?.int ?? 0) < ($1["Order"]?.int ?? 0) }
                        return Rule(conditions: body["Conditions"]?.list ?? [], actions: actions)
                    }
                }
                let dns = (shape["DNSName"]?.string ?? "").lowercased()
                let attributes = ELB.attributes(lb.attributes)
                var accessLogs: (bucket: String, prefix: String)?
                if attributes["access_logs.s3.enabled"] == "true", let bucket = attributes["access_logs.s3.bucket"], !bucket.isEmpty {
                    accessLogs = (bucket, attributes["access_logs.s3.prefix"] ?? "")
                }
                let dimension = Self.dimension(lb.arn)
                var groupCounters: [String: MetricCounters] = [:]
                for rules in listeners.values {
                    for group in rules.flatMap({ ELB.forwardedGroups($0.actions) }) where groupCounters[group] == nil {
                        groupCounters[group] = MetricCounters([("LoadBalancer", dimension), ("TargetGroup", Self.groupDimension(group))], metrics: metrics)
                    }
                }
                s.balancers[lb.arn] = Balancer(
                    arn: lb.arn, dnsName: dns, idleTimeout: Int(attributes["idle_timeout.timeout_seconds"] ?? "60") ?? 60,
                    listeners: listeners, accessLogs: accessLogs, httpsPorts: httpsPorts,
                    securityGroups: (shape["SecurityGroups"]?.list ?? []).compactMap(\.string),
                    subnets: (shape["AvailabilityZones"]?.list ?? []).compactMap { $0["SubnetId"]?.string },
                    dimension: dimension, counters: MetricCounters([("LoadBalancer", dimension)], metrics: metrics), groupCounters: groupCounters,
                    forwardedForMode: attributes["routing.http.xff_header_processing.mode"] ?? "append")
                s.byHost[dns] = lb.arn
            }
            let targets = try TargetRecord.fetchAll(db)
            for g in all where g.kind == "targetgroup" {
                let shape = ShapeValue(storageText: g.body)
                s.groups[g.arn] = Group(
                    arn: g.arn, port: shape["Port"]?.int ?? 80, targetType: shape["TargetType"]?.string ?? "instance", healthCheck: shape,
                    leastOutstanding: ELB.attributes(g.attributes)["load_balancing.algorithm.type"] == "least_outstanding_requests",
                    targets: targets.filter { $0.targetGroupArn == g.arn }.map { ($0.targetId, $0.port) }, inUse: used.contains(g.arn),
                    stickiness: Self.stickiness(ELB.attributes(g.attributes)),
                    slowStart: Int(ELB.attributes(g.attributes)["slow_start.duration_seconds"] ?? "0").flatMap { $0 > 0 ? clock.duration(awsSeconds: Double($0)) : nil },
                    perTarget: Self.counter("RequestCountPerTarget", [("TargetGroup", Self.groupDimension(g.arn))], metrics: metrics))
            }
            return s
        }
        for g in next.groups.values { for t in g.targets { health.registered(group: g.arn, id: t.id, port: t.port) } }
        state.withLock { $0 = next }
    }

    /// The host route: a load balancer's DNS name on the edge port.
    public var route: HostRoute {
        HostRoute(
            label: "elbv2",
            claim: { [self] host, suffix in host.hasSuffix(".elb." + suffix) ? state.withLock { $0.byHost[host] } : nil },
            handle: { [self] request in await handle(request, listenerPort: nil) },
            upgrade: { [self] request in await upgradeTarget(request, listenerPort: nil) },
            forward: { [self] request in exchange(for: request, listenerPort: nil) })
    }
}
