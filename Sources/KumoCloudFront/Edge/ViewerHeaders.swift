import KumoCore
import KumoProtocols
import KumoProxy
import NIOCore
import Synchronization

/// The headers CloudFront adds to what it returns to viewers, and its response headers policies.
struct ViewerHeaders {
    var pop: String
    var requestId: String
    var timeScale: Double

    /// `Via` names a CloudFront host; Kumo derives one per distribution.
    static func via(_ distribution: String) -> String {
        "1.1 " + Hashing.md5Hex(Array(distribution.utf8)) + ".cloudfront.net (CloudFront)"
    }

    func identity(xCache: String) -> [(String, String)] {
        [("X-Cache", xCache + " from cloudfront"), ("Via", Self.popVia(pop)), ("X-Amz-Cf-Pop", pop), ("X-Amz-Cf-Id", requestId)]
    }

    /// The `Via` of an edge location, worked out once per location.
    static func popVia(_ pop: String) -> String {
        if let known = vias.withLock({ $0[pop] }) { return known }
        let via = "1.1 " + Hashing.md5Hex(Array(pop.utf8)) + ".cloudfront.net (CloudFront)"
        vias.withLock { $0[pop] = via }
        return via
    }

    private static let vias = Mutex<[String: String]>([:])

    /// Answers from a cached (or just fetched) copy: conditional requests and byte ranges are
    /// served from it; hits carry their `Age` in AWS seconds.
    func fromCache(_ object: CachedObject, xCache: String, request: HostRoute.Request, now: ContinuousClock.Instant) -> ProtocolResponse {
        var headers = object.headers + identity(xCache: xCache)
        if xCache == "Hit" || xCache == "RefreshHit" || (xCache == "Error" && object.age(at: now) > .zero) {
            let age = object.age(at: now)
            let seconds = age.inSeconds / timeScale
            headers.append(("Age", String(Int(seconds))))
        }
        if object.status == 200 {
            // If-None-Match compares weakly: W/"x" and "x" name the same content.
            func opaque(_ tag: String) -> Substring { tag.hasPrefix("W/") ? tag.dropFirst(2) : tag[...] }
            if let inm = request.header("If-None-Match"), let etag = object.header("ETag"),
                inm == "*" || inm.split(separator: ",").contains(where: { opaque($0.trimmingSpaces) == opaque(etag) })
            {
                return ProtocolResponse(status: 304, headers: headers, body: [])
            }
            let size = Int64(object.body.readableBytes)
            switch ByteRange.parse(request.header("Range"), size: size) {
            case .whole: break
            case .bytes(let start, let length):
                headers.append(("Content-Range", "bytes \(start)-\(start + length - 1)/\(size)"))
                let slice = object.body.getSlice(at: object.body.readerIndex + Int(start), length: Int(length)) ?? ByteBuffer()
                var response = ProtocolResponse(status: 206, headers: headers, body: [])
                response.bodyStream = ByteStream(buffer: slice)
                return response
            case .unsatisfiable:
                headers.append(("Content-Range", "bytes */\(size)"))
                return ProtocolResponse(status: 416, headers: headers, body: [])
            }
        }
        var response = ProtocolResponse(status: object.status, headers: headers, body: [])
        response.bodyStream = ByteStream(buffer: object.body)
        return response
    }

    /// Streams an origin's answer that is not cached.
    func passthrough(_ upstream: UpstreamResponse, method: String) async -> ProtocolResponse {
        let headers = upstream.headers.filter { !hopByHopHeaders.contains($0.name.lowercased()) } + identity(xCache: upstream.status >= 400 ? "Error" : "Miss")
        var response = ProtocolResponse(status: upstream.status, headers: headers, body: [])
        if method == "HEAD" || upstream.status == 204 || upstream.status == 304 {
            await upstream.discard()
        } else {
            response.bodyStream = upstream.body
        }
        return response
    }

    static let allMethods = "GET, HEAD, PUT, POST, PATCH, DELETE, OPTIONS"

    /// A response headers policy: CORS headers for requests with an `Origin`, custom and
    /// security headers (added, or replacing the origin's when `Override`), removed headers.
    static func apply(_ policy: ResponseHeadersPlan, request: HostRoute.Request, to response: inout ProtocolResponse) {
        func set(_ name: String, _ value: String, override: Bool) {
            let present = response.headers.contains { $0.name.caseInsensitiveEquals(name) }
            if present && !override { return }
            response.headers.removeAll { $0.name.caseInsensitiveEquals(name) }
            response.headers.append((name, value))
        }
        if let cors = policy.cors, let origin = request.header("Origin") {
            let allowed = cors.allowOrigins.contains("*") ? "*" : cors.allowOrigins.contains(origin) ? origin : nil
            if let allowed {
                set("Access-Control-Allow-Origin", allowed, override: cors.originOverride)
                if cors.allowCredentials { set("Access-Control-Allow-Credentials", "true", override: cors.originOverride) }
                if !cors.exposeHeaders.isEmpty {
                    set("Access-Control-Expose-Headers", cors.exposeHeaders.joined(separator: ", "), override: cors.originOverride)
                }
                if request.method == "OPTIONS", request.header("Access-Control-Request-Method") != nil {
                    let methods = cors.allowMethods.contains("ALL") ? allMethods : cors.allowMethods.joined(separator: ", ")
                    set("Access-Control-Allow-Methods", methods, override: cors.originOverride)
                    if !cors.allowHeaders.isEmpty {
                        set("Access-Control-Allow-Headers", cors.allowHeaders.joined(separator: ", "), override: cors.originOverride)
                    }
                    if let age = cors.maxAge { set("Access-Control-Max-Age", String(age), override: cors.originOverride) }
                }
            }
        }
        for h in policy.custom { set(h.name, h.value, override: h.override) }
        for name in policy.remove { response.headers.removeAll { $0.name.caseInsensitiveEquals(name) } }
    }
}
