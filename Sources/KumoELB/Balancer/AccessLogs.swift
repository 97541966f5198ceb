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

    /// A new `X-Amzn-Trace-Id`: `Root=1-<epoch seconds, 8 hex digits>-<24 random hex digits>`.
    static func newRoot(epoch: Int) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 40) { out in
            digits.withUTF8Buffer { hex in
                for (i, c) in "Root=1-".utf8.enumerated() { out[i] = c }
                for i in 0..<8 { out[7 + i] = hex[(epoch >> (28 - 4 * i)) & 15] }
                out[15] = UInt8(ascii: "-")
                var bits = UniqueRandom.next()
                for i in 0..<24 {
                    if i == 16 { bits = UniqueRandom.next() }
                    out[16 + i] = hex[Int(bits & 15)]
                    bits >>= 4
                }
            }
            return 40
        }
    }
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

    /// One request's line, written as bytes.
    static func line(_ entry: AccessLogEntry) -> String {
        let (request, status, sent, location, port, action, priority, trace, received, seconds) = (
            entry.request, entry.status, entry.sent, entry.location, entry.port, entry.action, entry.priority, entry.trace, entry.received,
            entry.seconds
        )
        var out: [UInt8] = []
        out.reserveCapacity(512)
        func put(_ s: String) { out.append(contentsOf: s.utf8) }
        func put(_ s: Substring) { out.append(contentsOf: s.utf8) }
        /// A count (never negative here) in decimal.
        func put(_ n: Int) {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
                var digits = ASCIIWriter(buffer)
                digits.digits(n, width: 1)
                out.append(contentsOf: buffer[..<digits.count])
            }
        }
        func space() { out.append(UInt8(ascii: " ")) }
        /// Text with its own quotes escaped.
        func escaped(_ part: String) {
            guard part.utf8.contains(UInt8(ascii: "\"")) else { return out.append(contentsOf: part.utf8) }
            for b in part.utf8 {
                if b == UInt8(ascii: "\"") { out.append(UInt8(ascii: "\\")) }
                out.append(b)
            }
        }
        /// `"text"`, or `"-"` when there is none.
        func quoted(_ text: String?) {
            out.append(UInt8(ascii: "\""))
            escaped(text ?? "-")
            out.append(UInt8(ascii: "\""))
        }
        let host = request.header("Host") ?? entry.dnsName
        let query = request.queryString
        let processing = trace.targetSeconds == nil && action == "forward" ? "-1" : "0.000"
        let targetStatus = trace.targetStatus.map(String.init) ?? "-"
        let known = action == "forward" || action == "fixed-response" || action == "redirect"
        put("http ")
        put(Timestamp.iso8601Micros(Date(timeInterval: seconds, since: received)))
        space()
        put(entry.dimension)
        space()
        put(request.remoteAddress ?? "-")
        put(":0 ")
        put(trace.target)
        space()
        put(processing)
        space()
        put(trace.targetSeconds.map(LogTime.seconds) ?? "-1")
        space()
        put(processing)
        space()
        put(status)
        space()
        put(targetStatus)
        space()
        put(entry.receivedBytes)
        space()
        put(sent)
        space()
        out.append(UInt8(ascii: "\""))
        escaped(request.method)
        put(" http://")
        escaped(host)
        if !host.utf8.contains(UInt8(ascii: ":")) {
            put(":")
            put(port)
        }
        escaped(request.path)
        if !query.isEmpty {
            put("?")
            escaped(query)
        }
        put(" HTTP/1.1\"")
        space()
        quoted(request.header("User-Agent"))
        put(" - - ")
        put(trace.group)
        space()
        quoted(trace.traceId)
        put(" \"-\" \"-\" ")
        put(priority)
        space()
        put(Timestamp.iso8601Micros(received))
        space()
        quoted(known ? action : "-")
        space()
        quoted(location)
        put(" \"-\" ")
        quoted(trace.target)
        space()
        quoted(targetStatus)
        put(" \"-\" \"-\" -")
        return String(decoding: out, as: UTF8.self)
    }
}

/// What one request's access log line is made of. Lines are written when they are delivered
/// (not on the event loop that answered), and only those that are kept.
struct AccessLogEntry: Sendable {
    /// The request without its body (only the body's size is logged).
    var request: HostRoute.Request
    var receivedBytes: Int
    var status: Int
    var sent: Int
    var location: String?
    /// The load balancer's `app/<name>/<id>` and DNS name.
    var dimension: String
    var dnsName: String
    var port: Int
    var action: String
    var priority: String
    var trace: ForwardTrace
    var received: Date
    var seconds: Double

    init(
        request: HostRoute.Request, status: Int, sent: Int, location: String?, lb: Router.Balancer, port: Int, action: String,
        priority: String, trace: ForwardTrace, received: Date, seconds: Double
    ) {
        self.request = request
        self.request.body = []
        receivedBytes = request.body.count + Router.headerBytes(request.headers)
        (self.status, self.sent, self.location, self.port, self.action, self.priority, self.trace, self.received, self.seconds) = (
            status, sent, location, port, action, priority, trace, received, seconds
        )
        dimension = lb.dimension
        dnsName = lb.dnsName
    }

    var line: String { AccessLogs.line(self) }
}

/// Access log lines on their way to CloudWatch Logs: every load balancer's requests go to the log
/// group `/kumo/elb/<name>`, stream `access`, whether or not S3 access logs are on. At most
/// `limit` lines per load balancer go out with each delivery (every `interval`): under heavy load
/// the group keeps the first 250 lines of each quarter second, 1,000 a second (S3 access logs keep
/// every line). The group is for watching traffic, and each line kept costs a row in the store: at
/// 10,000 lines a second the inserts alone took a tenth of a core and ~5 MB of disk a second. A
/// request past the limit costs one atomic count (`wants`); lines are written on the background
/// lane, never on an event loop.
final class AccessLogFeed: Sendable {
    static let interval = Duration.milliseconds(250)
    static let limit = 250
    private let pending = Mutex<[String: [AccessLogEntry]]>([:])
    /// Which delivery the lines gathered now go out with: one more at each drain.
    private let round = Atomic<Int>(0)

    /// Whether a line of the balancer is wanted in this delivery (counted when it is).
    func wants(_ quota: Quota) -> Bool {
        let now = round.load(ordering: .relaxed)
        if quota.round.load(ordering: .relaxed) != now {
            // The first line of a delivery starts its count (two loops may both do it: a line or two more).
            quota.round.store(now, ordering: .relaxed)
            quota.taken.store(0, ordering: .relaxed)
        }
        return quota.taken.wrappingAdd(1, ordering: .relaxed).oldValue < Self.limit
    }

    /// One load balancer's count of lines in the current delivery.
    final class Quota: Sendable {
        fileprivate let round = Atomic<Int>(-1)
        fileprivate let taken = Atomic<Int>(0)
    }

    func append(_ entry: AccessLogEntry, balancer arn: String) {
        pending.withLock { all in
            if all[arn, default: []].count < Self.limit { all[arn, default: []].append(entry) }
        }
    }

    /// The events gathered since the last drain, their lines written now (at most `limit` per load balancer).
    func drain() -> [String: [(timestamp: Int64, message: String)]] {
        let all = pending.withLock { all in
            round.wrappingAdd(1, ordering: .relaxed)
            defer { all = [:] }
            return all
        }
        return all.mapValues { entries in entries.map { (timestamp: Int64($0.received.timeIntervalSince1970 * 1000), message: $0.line) } }
    }
}

/// Delivers the access log feed to CloudWatch Logs every `AccessLogFeed.interval`, and once more at shutdown.
public struct AccessLogShipping: Service {
    let feed: AccessLogFeed
    let sink: any LogSink

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: AccessLogFeed.interval)
                await ship()
            }
        }
        await ship()
    }

    func ship() async {
        let feed = self.feed
        for (arn, events) in await BackgroundLane.shared.run({ feed.drain() }) {
            // arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
            guard let parsed = ARN(arn) else { continue }
            let name = Router.dimension(arn).split(separator: "/").dropFirst().first.map(String.init) ?? arn
            await sink.append(accountId: parsed.accountId, region: parsed.region, group: "/kumo/elb/" + name, stream: "access", events: events)
        }
    }
}
