import KumoCore
import KumoProtocols
import KumoProxy
import NIOCore
import Logging
public import ServiceLifecycle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Health checks of every target of every target group that a load balancer uses: an
/// HTTP GET of the health check path every interval (scaled by the clock), counted against
/// the healthy and unhealthy thresholds.
public struct HealthChecker: Service {
    let router: Router

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await router.syncPorts()
                await withTaskGroup(of: Void.self) { tasks in
                    for group in router.snapshot.groups.values where group.inUse && group.healthCheck["HealthCheckEnabled"]?.bool != false {
                        let interval = router.clock.duration(awsSeconds: Double(group.healthCheck["HealthCheckIntervalSeconds"]?.int ?? 30))
                        for target in group.targets {
                            let entry = router.health.entry(group: group.arn, id: target.id, port: target.port)
                            if entry?.checking == true { continue }
                            if let last = entry?.lastCheck, ContinuousClock.now - last < interval { continue }
                            router.health.update(group: group.arn, id: target.id, port: target.port) { $0.lastCheck = .now; $0.checking = true }
                            tasks.addTask {
                                await check(group, target)
                                router.health.update(group: group.arn, id: target.id, port: target.port) { $0.checking = false }
                            }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    func check(_ group: Router.Group, _ target: (id: String, port: Int)) async {
        let hc = group.healthCheck
        let portText = hc["HealthCheckPort"]?.string ?? "traffic-port"
        let port = portText == "traffic-port" ? target.port : Int(portText) ?? target.port
        var address: String?
        if group.targetType == "instance" {
            guard let instance = await router.directory.instance(id: target.id) else {
                record(group, target, ok: false, reason: "Target.NotRegistered", description: "Target is not registered to the target group", address: nil)
                return
            }
            guard instance.state == "running" else {
                router.health.update(group: group.arn, id: target.id, port: target.port) { e in
                    e.state = "unused"
                    e.reason = "Target.InvalidState"
                    e.description = "Target is in the \(instance.state) state"
                    e.passes = 0
                    e.address = nil
                }
                return
            }
            address = instance.bindAddress
            // The instance's security groups must let the load balancer in, or its checks time out (as on AWS).
            let snapshot = router.snapshot
            let balancers = Router.balancers(forwardingTo: group.arn, in: snapshot).compactMap { snapshot.balancers[$0] }
            var admitted = balancers.isEmpty
            for lb in balancers where !admitted {
                admitted = await router.directory.admitsBalancer(instanceId: target.id, groups: lb.securityGroups, subnets: lb.subnets, port: port)
            }
            guard admitted else {
                record(group, target, ok: false, reason: "Target.Timeout", description: "Request timed out", address: address)
                return
            }
        } else {
            address = await router.directory.bindAddress(privateIp: target.id) ?? target.id
        }
        guard let address else { return }
        // The timeout is a network wait, not an AWS period: it is not shortened by --time-scale
        // (a busy target must not fail its checks because the clock runs fast).
        let timeout = Duration.seconds(hc["HealthCheckTimeoutSeconds"]?.int ?? 5)
        let request = UpstreamRequest(
            method: "GET", target: hc["HealthCheckPath"]?.string ?? "/",
            headers: [("Host", "\(address):\(port)"), ("User-Agent", "ELB-HealthChecker/2.0"), ("Connection", "close")])
        do {
            let millis = max(20, Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
            let answer = try await router.client.execute(request, host: address, port: port, readTimeout: .milliseconds(millis))
            await answer.discard()
            let ok = Self.matches(answer.status, hc["Matcher"]?["HttpCode"]?.string ?? "200")
            record(group, target, ok: ok, reason: "Target.ResponseCodeMismatch", description: "Health checks failed with these codes: [\(answer.status)]", address: address)
        } catch UpstreamError.timedOut {
            record(group, target, ok: false, reason: "Target.Timeout", description: "Request timed out", address: address)
        } catch {
            record(group, target, ok: false, reason: "Target.FailedHealthChecks", description: "Health checks failed", address: address)
        }
    }

    func record(_ group: Router.Group, _ target: (id: String, port: Int), ok: Bool, reason: String, description: String, address: String?) {
        let healthy = group.healthCheck["HealthyThresholdCount"]?.int ?? 5
        let unhealthy = group.healthCheck["UnhealthyThresholdCount"]?.int ?? 2
        router.health.update(group: group.arn, id: target.id, port: target.port) { e in
            e.address = address
            if e.state == "unused" { e.state = "initial"; e.reason = "Elb.InitialHealthChecking"; e.description = "Initial health checks in progress" }
            if ok {
                e.passes += 1
                e.failures = 0
                if e.state != "healthy", e.passes >= healthy {
                    e.state = "healthy"
                    e.healthySince = .now
                    e.reason = nil
                    e.description = nil
                }
            } else {
                e.failures += 1
                e.passes = 0
                if e.state != "unhealthy", e.failures >= unhealthy {
                    e.state = "unhealthy"
                    e.reason = reason
                    e.description = description
                }
                if e.state == "unhealthy" { e.reason = reason; e.description = description }
            }
        }
    }

    /// `200`, `200,302`, `200-299`.
    static func matches(_ status: Int, _ matcher: String) -> Bool {
        matcher.split(separator: ",").contains { part in
            let range = part.split(separator: "-").compactMap { Int($0.trimmingSpaces) }
            if range.count == 2 { return (range[0]...range[1]).contains(status) }
            return range.first == status
        }
    }
}
