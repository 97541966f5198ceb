import KumoCore
import KumoProtocols
import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CloudFront standard logs: one line per viewer request of a distribution whose config says
/// `Logging.Enabled`, in CloudFront's tab-separated format, delivered as gzip files named
/// `<prefix><distribution id>.<YYYY-MM-DD-HH>.<unique>.gz` into the logging bucket.
final class StandardLogs: Sendable {
    struct Destination: Hashable, Sendable {
        var bucket: String
        var prefix: String
        var distribution: String
    }

    static let header = """
        #Version: 1.0
        #Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) \
        cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for \
        ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port \
        time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end

        """

    private let pending = Mutex<[Destination: [String]]>([:])

    /// Adds the line of one answered request.
    func record(
        _ plan: DistributionPlan, request: HostRoute.Request, response: ProtocolResponse, pop: String, requestId: String, seconds: Double,
        at time: Date, domainName: String
    ) {
        guard let logging = plan.logging else { return }
        func field(_ s: String?) -> String {
            guard let s, !s.isEmpty else { return "-" }
            // Spaces and tabs would break the columns: percent-encoded, as CloudFront does.
            return s.replacing(" ", with: "%20").replacing("\t", with: "%09")
        }
        func header(_ name: String) -> String? { request.headers.first { $0.name.caseInsensitiveEquals(name) }?.value }
        func responseHeader(_ name: String) -> String? { response.headers.first { $0.name.caseInsensitiveEquals(name) }?.value }
        let stamp = Timestamp.iso8601(time)  // 2026-11-22T09:31:57Z
        let date = String(stamp.prefix(10))
        let clock = String(stamp.dropFirst(11).prefix(8))
        let bytes = response.bodyStream?.length.map(Int.init) ?? response.body.count
        let result = String((responseHeader("X-Cache") ?? "Error from cloudfront").split(separator: " ").first ?? "Error")
        let query = request.query.map { FormEncoding.escape($0.name) + "=" + FormEncoding.escape($0.value) }.joined(separator: "&")
        let requestBytes = request.body.count + request.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        let millis = max(0, Int((seconds * 1000).rounded()))
        let fraction = String(millis % 1000)
        let taken = "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
        let line = [
            date, clock, pop, String(bytes), field(request.remoteAddress), request.method, domainName, field(request.path), String(response.status),
            field(header("Referer")), field(header("User-Agent")), field(query), logging.cookies ? field(header("Cookie")) : "-", result,
            requestId, field(header("Host")), "http", String(requestBytes), taken, field(header("X-Forwarded-For")), "-", "-", result,
            "HTTP/1.1", "-", "-", "-", taken, result, field(responseHeader("Content-Type")), field(responseHeader("Content-Length")), "-", "-",
        ].joined(separator: "\t")
        let destination = Destination(bucket: logging.bucket, prefix: logging.prefix, distribution: plan.id)
        pending.withLock { $0[destination, default: []].append(line) }
    }

    /// Writes what has been recorded, one file per destination.
    func flush(to sink: any LogFileSink, at time: Date, logger: Logger) async {
        let batches = pending.withLock { p -> [Destination: [String]] in
            defer { p = [:] }
            return p
        }
        for (destination, lines) in batches {
            let stamp = Timestamp.iso8601(time)
            let hour = String(stamp.prefix(10)) + "-" + String(stamp.dropFirst(11).prefix(2))
            let key = destination.prefix + destination.distribution + "." + hour + "." + ResourceID.hex(length: 8) + ".gz"
            let text = Self.header + lines.joined(separator: "\n") + "\n"
            guard let body = Gzip.compress(ByteBuffer(string: text)) else { continue }
            do {
                try await sink.deliver(
                    bucket: destination.bucket, key: key, body: Array(buffer: body), contentType: "application/x-gzip", contentEncoding: nil)
            } catch {
                logger.warning(
                    "CloudFront standard logs not delivered", metadata: ["bucket": "\(destination.bucket)", "key": "\(key)", "error": "\(error)"])
            }
        }
    }
}

/// Delivers CloudFront standard logs every (AWS) minute, shortened by `--time-scale`, and
/// once more at shutdown.
public struct StandardLogDelivery: Service {
    let logs: StandardLogs
    let sink: any LogFileSink
    let clock: KumoClock
    let logger: Logger

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await clock.sleep(awsSeconds: 60)
                await logs.flush(to: sink, at: clock.now, logger: logger)
            }
        }
        await logs.flush(to: sink, at: clock.now, logger: logger)
    }
}
