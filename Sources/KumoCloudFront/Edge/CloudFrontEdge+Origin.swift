import KumoCore
import KumoProtocols
import KumoProxy
import Logging
import NIOCore
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension CloudFrontEdge {
    /// Asks the behavior's origin (or each member of its origin group, in order, failing over
    /// on the group's status codes and on connection failures).
    func fetch(
        plan: DistributionPlan, behavior: BehaviorPlan, path: String, request: HostRoute.Request, stale: CachedObject?, requestId: String,
        passthrough: Bool
    ) async -> Outcome {
        var ids = [behavior.targetOriginId]
        var failoverOn: Set<Int> = []
        if let group = plan.groups[behavior.targetOriginId] {
            ids = group.members
            failoverOn = group.failoverOn
        }
        var last = Outcome.failed(status: 502, message: "CloudFront wasn't able to connect to the origin.")
        for (i, id) in ids.enumerated() {
            guard let origin = plan.origins[id] else { continue }
            do {
                let upstream = try await send(
                    originRequest(origin, plan: plan, behavior: behavior, path: path, request: request, stale: stale, requestId: requestId,
                        passthrough: passthrough),
                    to: origin)
                if i < ids.count - 1, failoverOn.contains(upstream.status) {
                    await upstream.discard()
                    continue
                }
                return passthrough ? .passthrough(upstream) : await keep(upstream, plan: plan, behavior: behavior, path: path)
            } catch UpstreamError.timedOut {
                last = .failed(status: 504, message: "CloudFront attempted to establish a connection with the origin, but either the attempt failed or the origin closed the connection.")
            } catch {
                logger.debug("origin request failed", metadata: ["origin": "\(origin.domainName)", "error": "\(error)"])
                last = .failed(status: 502, message: "CloudFront wasn't able to connect to the origin.")
            }
        }
        return last
    }

    /// Reads a response for the cache: small enough ones whole, with their lifetime; larger
    /// ones stream through untouched.
    func keep(_ upstream: UpstreamResponse, plan: DistributionPlan, behavior: BehaviorPlan, path: String) async -> Outcome {
        if let length = upstream.body.length, length > Int64(configuration.maxCachedObject) { return .passthrough(upstream) }
        let bytes: [UInt8]
        do {
            bytes = try await upstream.body.collect(upTo: configuration.maxCachedObject)
        } catch {
            return .failed(status: 502, message: "The origin's response could not be read.")
        }
        var headers = upstream.headers.filter { !hopByHopHeaders.contains($0.name.lowercased()) && !$0.name.caseInsensitiveEquals("Content-Length") }
        if case .none = behavior.cacheKey.cookies, case .none = behavior.forwarded.cookies {
            // Cookies are not part of this behavior: CloudFront drops the origin's Set-Cookie.
            headers.removeAll { $0.name.caseInsensitiveEquals("Set-Cookie") }
        }
        var ttl: Double?
        var life = CacheRules.Lifetime()
        let isError = CacheRules.errorStatuses.contains(upstream.status)
        if CacheRules.cachedStatuses.contains(upstream.status) {
            life = CacheRules.lifetime(headers: headers, behavior: behavior, now: clock.now)
            ttl = life.ttl
        } else if isError {
            ttl = plan.errorResponses[upstream.status]?.cachingMinTTL ?? 10
        }
        let validators = headers.contains { $0.name.caseInsensitiveEquals("ETag") || $0.name.caseInsensitiveEquals("Last-Modified") }
        let object = CachedObject(
            distributionId: plan.id, path: path, status: upstream.status, headers: headers, body: ByteBuffer(bytes: bytes), storedAt: .now,
            ttl: clock.duration(awsSeconds: ttl ?? 0), staleWhileRevalidate: clock.duration(awsSeconds: life.staleWhileRevalidate),
            staleIfError: clock.duration(awsSeconds: life.staleIfError), isError: isError,
            cacheable: upstream.status == 304 || (ttl.map { $0 > 0 || (validators && !isError) } ?? false))
        return .object(object, xCache: "Miss")
    }

    func send(_ request: UpstreamRequest, to origin: OriginPlan) async throws -> UpstreamResponse {
        let (host, port) = try address(origin)
        return try await client.execute(request, host: host, port: port, readTimeout: .seconds(Int64(max(1, origin.readTimeoutSeconds))))
    }

    /// Where an origin is reached: Kumo's own edge for its S3 buckets and `.localhost` names.
    func address(_ origin: OriginPlan) throws -> (String, Int) {
        let local = localEdge.withLock { $0 }
        switch origin.target {
        case .s3, .s3Website: return local
        case .custom(let host, let port, let https, let kumo):
            if https { throw UpstreamError.connectFailed("HTTPS origins need TLS, which Kumo's CloudFront does not speak yet") }
            return kumo ? local : (host, port)
        }
    }

    func hostHeader(_ origin: OriginPlan) -> String {
        switch origin.target {
        case .s3(let bucket): "\(bucket).s3.\(hostSuffix)"
        case .s3Website(let bucket): "\(bucket).s3-website.\(hostSuffix)"
        case .custom(let host, let port, _, _): port == 80 ? host : "\(host):\(port)"
        }
    }

    /// The request CloudFront sends: the policy's query strings, headers and cookies, its own
    /// headers, the origin's custom headers, validators of a stale copy, and for S3 origins with
    /// origin access control a SigV4 signature as the CloudFront service principal.
    func originRequest(
        _ origin: OriginPlan, plan: DistributionPlan, behavior: BehaviorPlan, path: String, request: HostRoute.Request, stale: CachedObject?,
        requestId: String, passthrough: Bool
    ) -> UpstreamRequest {
        let keyed = behavior.cacheKey, extra = behavior.forwarded
        let query = request.query.filter { keyed.queryStrings.includes($0.name) || extra.queryStrings.includes($0.name) }
        let rawQuery = query.map { FormEncoding.escape($0.name) + "=" + FormEncoding.escape($0.value) }.joined(separator: "&")
        let rawPath = origin.originPath + path
        var host = hostHeader(origin)
        var headers: [(name: String, value: String)] = []
        var forwardsHost = false
        for h in request.headers {
            let name = h.name.lowercased()
            guard !hopByHopHeaders.contains(name), name != "cookie", name != "content-length" else { continue }
            let selected = keyed.headers.includes(name) || extra.headers.includes(name)
            if name == "host" {
                if selected, case .custom = origin.target { host = h.value; forwardsHost = true }
                continue
            }
            let conditional = ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "range"].contains(name)
            if selected || (passthrough && (conditional || name == "content-type")) {
                if origin.signs && name == "authorization" && !origin.keepsViewerAuthorization { continue }
                headers.append((h.name, h.value))
            }
        }
        _ = forwardsHost
        let cookies = CacheRules.cookies(request).filter { keyed.cookies.includes($0.name) || extra.cookies.includes($0.name) }
        if !cookies.isEmpty { headers.append(("Cookie", cookies.map { $0.name + "=" + $0.value }.joined(separator: "; "))) }
        if !headers.contains(where: { $0.name.caseInsensitiveEquals("User-Agent") }) { headers.append(("User-Agent", "Amazon CloudFront")) }
        let forwardedFor = [request.header("X-Forwarded-For"), request.remoteAddress].compactMap { $0 }.joined(separator: ", ")
        headers.removeAll { $0.name.caseInsensitiveEquals("X-Forwarded-For") }
        if !forwardedFor.isEmpty { headers.append(("X-Forwarded-For", forwardedFor)) }
        headers.append(("Via", ViewerHeaders.via(plan.id)))
        headers.append(("X-Amz-Cf-Id", requestId))
        for h in origin.customHeaders { headers.append(h) }
        if let stale {
            if let etag = stale.header("ETag") { headers.append(("If-None-Match", etag)) }
            if let modified = stale.header("Last-Modified") { headers.append(("If-Modified-Since", modified)) }
        }
        let body = passthrough ? request.body : []
        var signed: [(name: String, value: String)] = [("Host", host)]
        if origin.signs, case .s3 = origin.target {
            signed.append(("x-amz-source-arn", plan.arn))
            // CloudFront reaches an S3 origin with the viewer's protocol (aws:SecureTransport in the
            // bucket policy); Kumo's own hop is plain HTTP, so the protocol travels in a signed header.
            if request.secure { signed.append((ViewerProtocol.header, "https")) }
            signed += SigV4.sign(
                method: request.method, rawPath: rawPath, rawQuery: rawQuery, headers: signed, payload: body,
                accessKeyId: configuration.signingKeyId, secret: configuration.signingSecret, region: "us-east-1", service: "s3", date: clock.now)
        }
        return UpstreamRequest(
            method: request.method, target: rawPath + (rawQuery.isEmpty ? "" : "?" + rawQuery), headers: signed + headers, body: body)
    }
}
