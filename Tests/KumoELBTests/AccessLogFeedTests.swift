import Glibc
import KumoCore
import KumoProtocols
import Synchronization
import Testing

@testable import KumoELB

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The CloudWatch Logs feed of access log lines, and the low-priority thread its lines are written on.
@Suite struct AccessLogFeedTests {
    static let lb = Router.Balancer(
        arn: "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef", dnsName: "web-1.us-east-1.elb.localhost",
        idleTimeout: 60, listeners: [:], accessLogs: nil, httpsPorts: [], securityGroups: [], subnets: [], dimension: "app/web/0123456789abcdef",
        counters: Router.MetricCounters([("LoadBalancer", "app/web/0123456789abcdef")], metrics: nil), groupCounters: [:])

    static func entry(_ n: Int) -> AccessLogEntry {
        let request = HostRoute.Request(
            method: "GET", target: "/item/\(n)?a=1", headers: [("Host", "web.example"), ("User-Agent", "curl/8")], remoteAddress: "127.0.0.1",
            name: "web")
        return AccessLogEntry(
            request: request, status: 200, sent: 123, location: nil, lb: lb, port: 80, action: "forward", priority: "-1",
            trace: ForwardTrace(target: "127.0.0.1:8080", targetStatus: 200, targetSeconds: 0.001, group: "-", traceId: "Root=1-x"),
            received: Date(timeIntervalSince1970: 1_700_000_000 + Double(n) / 1000), seconds: 0.002)
    }

    @Test func aDeliveryKeepsTheFirstLinesUpToTheLimit() {
        let feed = AccessLogFeed()
        let count = AccessLogFeed.limit * 3 + 7
        var wanted = 0
        for n in 0..<count where feed.wants(Self.lb.feedQuota) {
            wanted += 1
            feed.append(Self.entry(n), balancer: Self.lb.arn)
        }
        #expect(wanted == AccessLogFeed.limit)
        let events = feed.drain()[Self.lb.arn] ?? []
        #expect(events.count == AccessLogFeed.limit)
        #expect(events.first?.message.contains("GET http://web.example:80/item/0?a=1 HTTP/1.1") == true)
        #expect(events.last?.message.contains("/item/\(AccessLogFeed.limit - 1)?") == true)
        #expect(events.last?.timestamp == 1_700_000_000_000 + Int64(AccessLogFeed.limit - 1))
        // Drained means gone, and the next delivery takes lines again.
        #expect(feed.drain().isEmpty)
        #expect(feed.wants(Self.lb.feedQuota))
    }

    @Test func theLaneRunsJobsInOrderOnItsOwnLowPriorityThread() async {
        let lane = BackgroundLane(name: "kumo-test-lane", nice: 7)
        let order = Mutex<[Int]>([])
        for n in 0..<20 { await lane.run { order.withLock { $0.append(n) } } }
        #expect(order.withLock { $0 } == Array(0..<20))
        let (nice, name, thread) = await lane.run { () -> (Int32, String, UInt) in
            errno = 0
            let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            return (nice, comm.split(separator: "\n").first.map(String.init) ?? "", UInt(pthread_self()))
        }
        #expect(nice == 7)
        #expect(name == "kumo-test-lane")
        #expect(thread != UInt(pthread_self()))
    }
}
