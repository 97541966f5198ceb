import KumoCore
import KumoProtocols
import KumoProxy
public import ServiceLifecycle
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a forwarded request met on its way: for the access log.
struct ForwardTrace: Sendable {
    var target = "-"
    var targetStatus: Int?
    var targetSeconds: Double?
    var group = "-"
    var traceId = "-"
}

/// Application load balancer access logs: one space-separated line per request in the ALB
/// format, delivered every five (AWS) minutes as
/// `<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/<account>_elasticloadbalancing_<region>_app.<name>.<id>_<end time>_<ip>_<random>.log.gz`.
enum AccessLogs {
    static func batches() -> LogBatches {
        LogBatches(header: "") { destination, time in
            // The source is the load balancer's ARN: its region, account and `app/<name>/<id>`.
            let arn = ARN(destination.source)
            let region = arn?.region ?? "us-east-1"
            let account = arn?.accountId ?? "000000000000"
            let resource = Router.dimension(destination.source).replacing("/", with: ".")
            let t = LogTime(time)
            let day = t.date.replacing("-", with: "/")
            let end = t.date.replacing("-", with: "") + "T" + t.time.replacing(":", with: "").prefix(4) + "Z"
            let prefix = destination.prefix.isEmpty ? "" : destination.prefix + "/"
            return "\(prefix)AWSLogs/\(account)/elasticloadbalancing/\(region)/\(day)/"
                + "\(account)_elasticloadbalancing_\(region)_\(resource)_\(end)_127.0.0.1_\(ResourceID.hex(length: 8)).log.gz"
        }
    }

    static func line(
        request: HostRoute.Request, status: Int, sent: Int, location: String?, lb: Router.Balancer, port: Int, action: String,
        priority: String, trace: ForwardTrace, received: Date, seconds: Double
    ) -> String {
        func quoted(_ s: String?) -> String {
            guard let s else { return "\"-\"" }
            return s.utf8.contains(UInt8(ascii: "\"")) ? "\"" + s.replacing("\"", with: "\\\"") + "\"" : "\"" + s + "\""
        }
        let query = request.queryString
        let host = request.header("Host") ?? lb.dnsName
        let url = "http://" + (host.contains(":") ? host : host + ":" + String(port)) + request.path + (query.isEmpty ? "" : "?" + query)
        let receivedBytes = request.body.count + Router.headerBytes(request.headers)
        let targetTime = trace.targetSeconds.map(LogTime.seconds) ?? "-1"
        let processing = trace.targetSeconds == nil && action == "forward" ? "-1" : "0.000"
        let targetStatus = trace.targetStatus.map(String.init) ?? "-"
        let created = Timestamp.iso8601(received)
        let now = Timestamp.iso8601(Date(timeInterval: seconds, since: received))
        let known = action == "forward" || action == "fixed-response" || action == "redirect"
        var line = "http " + now + " " + lb.dimension + " " + (request.remoteAddress ?? "-") + ":0 " + trace.target + " "
        line += processing + " " + targetTime + " " + processing + " " + String(status) + " " + targetStatus + " "
        line += String(receivedBytes) + " " + String(sent) + " " + quoted(request.method + " " + url + " HTTP/1.1") + " "
        line += quoted(request.header("User-Agent")) + " - - " + trace.group + " " + quoted(trace.traceId) + " \"-\" \"-\" "
        line += priority + " " + created + " " + quoted(known ? action : "-") + " " + quoted(location) + " \"-\" "
        line += quoted(trace.target) + " " + quoted(targetStatus) + " \"-\" \"-\" -"
        return line
    }
}

/// Access log lines on their way to CloudWatch Logs: every load balancer's requests go to the log
/// group `/kumo/elb/<name>`, stream `access`, whether or not S3 access logs are on. At most
/// `limit` lines wait per load balancer between deliveries; beyond that the oldest are dropped.
final class AccessLogFeed: Sendable {
    static let limit = 20_000
    private let pending = Mutex<[String: [(timestamp: Int64, message: String)]]>([:])

    func append(_ line: String, balancer arn: String, at time: Date) {
        let event = (timestamp: Int64(time.timeIntervalSince1970 * 1000), message: line)
        pending.withLock { all in
            all[arn, default: []].append(event)
            if all[arn]!.count > Self.limit { all[arn]!.removeFirst(all[arn]!.count - Self.limit) }
        }
    }

    func drain() -> [String: [(timestamp: Int64, message: String)]] {
        pending.withLock { all in
            defer { all = [:] }
            return all
        }
    }
}

/// Delivers the access log feed to CloudWatch Logs every second, and once more at shutdown.
public struct AccessLogShipping: Service {
    let feed: AccessLogFeed
    let sink: any LogSink

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                await ship()
            }
        }
        await ship()
    }

    func ship() async {
        for (arn, events) in feed.drain() {
            // arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
            guard let parsed = ARN(arn) else { continue }
            let name = Router.dimension(arn).split(separator: "/").dropFirst().first.map(String.init) ?? arn
            await sink.append(accountId: parsed.accountId, region: parsed.region, group: "/kumo/elb/" + name, stream: "access", events: events)
        }
    }
}
