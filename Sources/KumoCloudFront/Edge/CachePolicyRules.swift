import KumoProtocols
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How CloudFront decides what a response is cached under and for how long.
enum CacheRules {
    /// Statuses cached with the behavior's TTLs, and error statuses cached for the error caching TTL.
    static let cachedStatuses: Set<Int> = [200, 203, 300, 301, 410]
    static let errorStatuses: Set<Int> = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504]

    struct Lifetime {
        /// AWS seconds the response stays fresh; nil when it is not to be cached.
        var ttl: Double?
        var staleWhileRevalidate: Double = 0
        var staleIfError: Double = 0
    }

    /// The TTL from `Cache-Control` (`s-maxage`, then `max-age`) or `Expires`, bounded by the
    /// behavior's minimum and maximum; the default TTL when the origin says nothing.
    static func lifetime(headers: [(name: String, value: String)], behavior: BehaviorPlan, now: Date) -> Lifetime {
        let directives = cacheControl(headers)
        var life = Lifetime()
        life.staleWhileRevalidate = directives["stale-while-revalidate"].flatMap { Double($0 ?? "") } ?? 0
        life.staleIfError = directives["stale-if-error"].flatMap { Double($0 ?? "") } ?? 0
        if directives["no-store"] != nil || directives["no-cache"] != nil || directives["private"] != nil {
            life.ttl = behavior.minTTL > 0 ? behavior.minTTL : nil
            return life
        }
        var origin: Double?
        if let s = directives["s-maxage"] ?? directives["max-age"], let v = Double(s ?? "") {
            origin = v
        } else if let expires = headers.first(where: { $0.name.caseInsensitiveEquals("Expires") })?.value {
            origin = Timestamp.parseHTTPDate(expires).map { max(0, $0.timeIntervalSince(now)) } ?? 0
        }
        if let origin {
            life.ttl = min(max(origin, behavior.minTTL), behavior.maxTTL)
        } else {
            life.ttl = min(max(behavior.defaultTTL, behavior.minTTL), behavior.maxTTL)
        }
        if behavior.maxTTL <= 0 { life.ttl = nil }
        return life
    }

    /// `Cache-Control` directives, lower-cased, with their values.
    static func cacheControl(_ headers: [(name: String, value: String)]) -> [String: String?] {
        var out: [String: String?] = [:]
        for h in headers where h.name.caseInsensitiveEquals("Cache-Control") {
            for part in h.value.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1)
                let name = kv[0].trimmingSpaces.lowercased()
                out[name] = kv.count > 1 ? .some(String(kv[1].trimmingSpaces.filter { $0 != "\"" })) : .some(nil)
            }
        }
        return out
    }

    /// The cache key: distribution, path, and the query strings, headers and cookies the policy names.
    static func key(distribution: String, path: String, request: HostRoute.Request, selection: ParameterSelection) -> String {
        var key = distribution + " " + path
        let query = request.query.filter { selection.queryStrings.includes($0.name) }.sorted { ($0.name, $0.value) < ($1.name, $1.value) }
        if !query.isEmpty { key += "?" + query.map { $0.name + "=" + $0.value }.joined(separator: "&") }
        if case .none = selection.headers {} else {
            for h in request.headers.sorted(by: { $0.name.lowercased() < $1.name.lowercased() }) where selection.headers.includes(h.name.lowercased()) {
                key += "\n" + h.name.lowercased() + ":" + h.value
            }
        }
        if case .none = selection.cookies {} else {
            for c in cookies(request).sorted(by: { $0.name < $1.name }) where selection.cookies.includes(c.name) {
                key += "\ncookie:" + c.name + "=" + c.value
            }
        }
        return key
    }

    static func cookies(_ request: HostRoute.Request) -> [(name: String, value: String)] {
        request.headers.filter { $0.name.caseInsensitiveEquals("Cookie") }.flatMap { h in
            h.value.split(separator: ";").map { pair in
                let kv = pair.split(separator: "=", maxSplits: 1)
                return (name: kv[0].trimmingSpaces, value: kv.count > 1 ? String(kv[1]) : "")
            }
        }
    }
}
