import KumoCore
import KumoProtocols
import KumoProxy
import NIOCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CloudFront standard logs: one line per viewer request of a distribution whose config says
/// `Logging.Enabled`, in CloudFront's tab-separated format, delivered as gzip files named
/// `<prefix><distribution id>.<YYYY-MM-DD-HH>.<unique>.gz` into the logging bucket.
enum StandardLogs {
    static let header = """
        #Version: 1.0
        #Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) \
        cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for \
        ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port \
        time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end

        """

    static func batches() -> LogBatches {
        LogBatches(header: header) { destination, time in
            let t = LogTime(time)
            return destination.prefix + destination.source + "." + t.date + "-" + t.time.prefix(2) + "." + ResourceID.hex(length: 8) + ".gz"
        }
    }

    /// The line of one answered request.
    static func line(
        _ plan: DistributionPlan, request: HostRoute.Request, response: ProtocolResponse, pop: String, requestId: String, seconds: Double,
        at time: Date, domainName: String, cookies: Bool
    ) -> String {
        func field(_ s: String?) -> String {
            guard let s, !s.isEmpty else { return "-" }
            // Spaces and tabs would break the columns: percent-encoded, as CloudFront does.
            return s.replacing(" ", with: "%20").replacing("\t", with: "%09")
        }
        func header(_ name: String) -> String? { request.headers.first { $0.name.caseInsensitiveEquals(name) }?.value }
        func responseHeader(_ name: String) -> String? { response.headers.first { $0.name.caseInsensitiveEquals(name) }?.value }
        let t = LogTime(time)
        let bytes = response.bodyStream?.length.map(Int.init) ?? response.body.count
        let result = String((responseHeader("X-Cache") ?? "Error from cloudfront").split(separator: " ").first ?? "Error")
        let query = request.queryString
        let requestBytes = request.body.count + request.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        let taken = LogTime.seconds(seconds)
        return [
            t.date, t.time, pop, String(bytes), field(request.remoteAddress), request.method, domainName, field(request.path), String(response.status),
            field(header("Referer")), field(header("User-Agent")), field(query), cookies ? field(header("Cookie")) : "-", result,
            requestId, field(header("Host")), "http", String(requestBytes), taken, field(header("X-Forwarded-For")), "-", "-", result,
            "HTTP/1.1", "-", "-", "-", taken, result, field(responseHeader("Content-Type")), field(responseHeader("Content-Length")), "-", "-",
        ].joined(separator: "\t")
    }
}
