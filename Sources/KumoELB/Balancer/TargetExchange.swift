import KumoCore
import KumoProtocols
import KumoProxy
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A request a forward action sends to a target: the target chosen (and another when it cannot
/// be reached), the headers it gets, and, as its answer comes back, the request's metrics,
/// stickiness cookies and access log line. Both ways of proxying use it: the listener ports'
/// relay on the event loop and `Router.forward` for requests to the balancer's DNS name on the edge.
final class TargetExchange: ForwardExchange, @unchecked Sendable {
    let router: Router
    let request: HostRoute.Request
    let lb: Router.Balancer
    let listenerPort: Int
    let priority: String
    let group: Router.Group
    /// Target group stickiness of the rule: seconds the client is held to this group.
    private let groupStickiness: Int?
    /// The metric counters of this load balancer and target group.
    private let groupCounters: Router.MetricCounters?
    private(set) var target: (id: String, port: Int, address: String)
    let requestTarget: String
    let headers: [(name: String, value: String)]
    private var trace = ForwardTrace()
    private let received: Date
    private let started = ContinuousClock.now
    private var retargeted = false
    /// Whether the target is counted as having this request outstanding (counted only where
    /// `least_outstanding_requests` reads the counts).
    private var outstanding = false

    var host: String { target.address }
    var port: Int { target.port }
    var readTimeout: Int { lb.idleTimeout }

    /// Nil when the action's target groups have no healthy target.
    init?(router: Router, rule: Router.Rule, request: HostRoute.Request, lb: Router.Balancer, port: Int, priority: String) {
        guard let (_, group, target, healthy) = router.choose(rule, request: request) else { return nil }
        self.router = router
        self.request = request
        self.lb = lb
        self.listenerPort = port
        self.priority = priority
        self.group = group
        self.target = target
        groupStickiness = rule.groupStickiness
        received = router.clock.now
        groupCounters = lb.groupCounters[group.arn]
        router.countForTargetGroup(group, counters: groupCounters, healthy: healthy)
        var headers = router.forwardedHeaders(request, lb: lb, port: port)
        if let given = request.header("X-Amzn-Trace-Id") {
            trace.traceId = given
        } else {
            trace.traceId = ForwardTrace.newRoot(epoch: Int(received.timeIntervalSince1970))
            headers.append(("X-Amzn-Trace-Id", trace.traceId))
        }
        self.headers = headers
        trace.group = group.arn
        let query = request.queryString
        requestTarget = query.isEmpty ? request.path : request.path + "?" + query
        if group.leastOutstanding {
            router.health.began(group: group.arn, id: target.id, port: target.port)
            outstanding = true
        }
    }

    func retarget() -> Bool {
        let health = router.health
        if outstanding { health.ended(group: group.arn, id: target.id, port: target.port) }
        outstanding = false
        guard !retargeted else { return false }
        // Round robin may come back to the same target: ask as many times as there are targets.
        var found: (id: String, port: Int, address: String)?
        for _ in 0..<group.targets.count {
            guard let other = health.pick(group: group.arn, targets: group.targets, leastOutstanding: group.leastOutstanding) else { break }
            if other.address != target.address || other.port != target.port {
                found = (other.id, other.port, other.address)
                break
            }
        }
        guard let other = found else { return false }
        retargeted = true
        target = other
        if group.leastOutstanding {
            health.began(group: group.arn, id: target.id, port: target.port)
            outstanding = true
        }
        return true
    }

    func answered(status: Int, headers: () -> [(name: String, value: String)]) -> [(name: String, value: String)] {
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.inSeconds
        trace.target = target.id + ":" + String(target.port)
        trace.targetStatus = status
        trace.targetSeconds = seconds
        let digit = min(max(status / 100, 0), 5)
        lb.counters.targetResponseTime.add(seconds)
        lb.counters.targetCodes[digit].add(1)
        if let groupCounters {
            groupCounters.targetResponseTime.add(seconds)
            groupCounters.targetCodes[digit].add(1)
        }
        // The answer's headers as strings, only where they are read.
        let wantsHeaders = target.id.hasPrefix("i-") || group.stickiness?.appCookie != nil
        let answer = wantsHeaders ? headers() : []
        countNetwork(answer)
        let held = groupStickiness.map { router.groupCookies(group: group.arn, seconds: $0) } ?? []
        guard let stickiness = group.stickiness else { return held }
        return held + router.stickyCookies(group: group.arn, target: target, stickiness: stickiness, answer: answer).map { (name: $0.0, value: $0.1) }
    }

    func failure(_ status: Int) -> ProtocolResponse {
        trace.target = target.id + ":" + String(target.port)
        return Router.errorPage(status)
    }

    func finished(status: Int, bodyBytes: Int) {
        if outstanding { router.health.ended(group: group.arn, id: target.id, port: target.port) }
        outstanding = false
        router.record(
            request, lb: lb, port: listenerPort, action: "forward", priority: priority, trace: trace, status: status, sent: bodyBytes,
            location: nil, byBalancer: trace.targetStatus == nil, received: received, started: started)
    }

    /// `AWS/EC2` NetworkIn/NetworkOut of an instance target: the bytes of the request the load
    /// balancer sent it and of its answer (traffic that passes through Kumo is what is measurable here).
    private func countNetwork(_ answer: [(name: String, value: String)]) {
        guard let metrics = router.metrics, target.id.hasPrefix("i-") else { return }
        let sent = request.method.utf8.count + requestTarget.utf8.count + 12 + Router.headerBytes(headers) + request.body.count
        let length = answer.first { $0.name.caseInsensitiveEquals("Content-Length") }.flatMap { Int($0.value) } ?? 0
        let received = 17 + Router.headerBytes(answer) + length
        metrics.add(Double(sent), to: MetricKey(namespace: "AWS/EC2", name: "NetworkIn", dimensions: [("InstanceId", target.id)]))
        metrics.add(Double(received), to: MetricKey(namespace: "AWS/EC2", name: "NetworkOut", dimensions: [("InstanceId", target.id)]))
    }
}

/// Body bytes counted by the task that streams a body, read when it ends.
final class ByteCount: Sendable {
    private let total = Atomic<Int>(0)
    var value: Int { total.load(ordering: .relaxed) }
    func add(_ n: Int) { total.add(n, ordering: .relaxed) }
}
