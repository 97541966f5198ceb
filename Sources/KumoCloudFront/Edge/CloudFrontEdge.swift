public import KumoCore
public import KumoProtocols
import KumoProxy
import Logging
import NIOCore
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CloudFront's data plane: serves distributions on `<id>.cloudfront.<suffix>` and their
/// alternate domain names, from per-edge-location caches filled from the origins.
public final class CloudFrontEdge: Sendable {
    public struct Configuration: Sendable {
        /// Edge locations and the viewer addresses each serves; the first one serves everyone else.
        public var locations: [(name: String, blocks: [CIDR])]
        /// Bytes each edge location may keep.
        public var cacheBudget: Int
        /// Larger responses stream through to the viewer without being cached.
        public var maxCachedObject: Int
        /// The access key CloudFront signs origin requests with (origin access control).
        public var signingKeyId: String
        public var signingSecret: String

        public init(
            locations: [(name: String, blocks: [CIDR])] = [("IAD89-C2", [])], cacheBudget: Int = 256 << 20,
            maxCachedObject: Int = 64 << 20, signingKeyId: String, signingSecret: String
        ) {
            self.locations = locations.isEmpty ? [("IAD89-C2", [])] : locations
            self.cacheBudget = cacheBudget
            self.maxCachedObject = maxCachedObject
            self.signingKeyId = signingKeyId
            self.signingSecret = signingSecret
        }
    }

    /// What one origin fetch produced: a response that went into the cache (shared by every
    /// request that waited for it), or one that only its requester may stream.
    enum Outcome: Sendable {
        case object(CachedObject, xCache: String)
        case passthrough(UpstreamResponse)
        case failed(status: Int, message: String)
    }

    let configuration: Configuration
    let distributions: DistributionSnapshot
    /// Standard log lines waiting for delivery.
    let standardLogs = StandardLogs.batches()
    let caches: [EdgeCache]
    let client = UpstreamClient()
    let clock: KumoClock
    let logger: Logger
    let metrics: ServiceMetrics?
    let hostSuffix: String
    let inflight = Mutex<[String: Task<Outcome, Never>]>([:])
    /// Metric series by distribution (see `count`).
    let metricKeys = Mutex<[String: CountKeys]>([:])
    /// Where Kumo's own edge listens, for origins that are Kumo's S3 buckets.
    let localEdge = Mutex<(host: String, port: Int)>(("127.0.0.1", 4566))

    init(configuration: Configuration, distributions: DistributionSnapshot, clock: KumoClock, logger: Logger, metrics: ServiceMetrics?, hostSuffix: String) {
        self.configuration = configuration
        self.distributions = distributions
        self.caches = configuration.locations.map { EdgeCache(name: $0.name, budget: configuration.cacheBudget) }
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.hostSuffix = hostSuffix
    }

    /// Tells the edge where Kumo's own listener is, once it is bound.
    public func setLocalEdge(host: String, port: Int) { localEdge.withLock { $0 = (host, port) } }

    public var route: HostRoute {
        HostRoute(
            label: "cloudfront", claim: { [self] host, suffix in claim(host: host, suffix: suffix) }, handle: { [self] in await handle($0) },
            quick: { [self] in quickHit($0) })
    }

    func claim(host: String, suffix: String) -> String? {
        let tail = ".cloudfront." + suffix
        if host.utf8HasSuffix(tail) {
            let label = Substring(host.utf8.dropLast(tail.utf8.count))
            if !label.isEmpty, !label.utf8.contains(UInt8(ascii: ".")) { return label.asciiUppercased }
        }
        return distributions.distribution(alias: host)
    }

    /// For HTTPS viewers: whether `host` is one of Kumo's CloudFront names, and the ACM certificate
    /// its distribution names for its aliases (nil when none).
    public func viewerCertificate(host: String, suffix: String) -> (served: Bool, certificateArn: String?) {
        guard let id = claim(host: host, suffix: suffix) else { return (false, nil) }
        // The distribution's own domain name has Kumo's certificate, as *.cloudfront.net has CloudFront's.
        if host.hasSuffix(".cloudfront." + suffix) { return (true, nil) }
        return (true, distributions.plan(id)?.viewerCertificateArn)
    }

    /// The edge location serving a viewer: `X-Kumo-Edge-Location` names one directly (for
    /// tests and demos), else the first whose address blocks hold the viewer, else the first.
    func location(_ request: HostRoute.Request) -> Int {
        if let asked = request.header("X-Kumo-Edge-Location"), let i = configuration.locations.firstIndex(where: { $0.name == asked }) {
            return i
        }
        if let address = request.remoteAddress {
            if let i = configuration.locations.firstIndex(where: { $0.blocks.contains { $0.contains(address) } }) { return i }
        }
        return 0
    }

    // MARK: invalidation

    func invalidate(distribution: String, paths: [String]) {
        var dropped = 0
        for cache in caches { dropped += cache.remove(distribution: distribution, paths: paths) }
        logger.debug("invalidation", metadata: ["distribution": "\(distribution)", "paths": "\(paths)", "dropped": "\(dropped)"])
    }

    func purge(distribution: String) {
        for cache in caches { cache.remove(distribution: distribution, paths: nil) }
    }

    // MARK: serving

    /// A request the edge serves: where, by which behavior, under which request id.
    struct Viewing {
        var plan: DistributionPlan
        var behavior: BehaviorPlan
        var path: String
        var index: Int
        var pop: String
        var requestId: String
        var started: ContinuousClock.Instant
    }

    func handle(_ request: HostRoute.Request) async -> ProtocolResponse {
        let viewing: Viewing
        switch view(request) {
        case .answered(let response): return response
        case .serve(let v): viewing = v
        }
        let response = await serve(
            plan: viewing.plan, behavior: viewing.behavior, path: viewing.path, request: request, cache: caches[viewing.index], pop: viewing.pop,
            requestId: viewing.requestId)
        return viewed(response, viewing, request: request)
    }

    /// A fresh cache hit, answered without waiting for anything; nil when the request needs more
    /// than the cache (a miss, a stale or error copy, a range or conditional request, or any
    /// answer other than the object itself), for `handle` to serve.
    func quickHit(_ request: HostRoute.Request) -> ProtocolResponse? {
        guard request.method == "GET" || request.method == "HEAD", case .serve(let viewing) = view(request) else { return nil }
        let behavior = viewing.behavior
        guard behavior.cachedMethods.contains(request.method), behavior.maxTTL > 0 else { return nil }
        let cache = caches[viewing.index]
        let key = CacheRules.key(distribution: viewing.plan.id, path: viewing.path, request: request, selection: behavior.cacheKey)
        guard let hit = cache.get(key), hit.isFresh(at: .now), !hit.isError, hit.status < 400 else { return nil }
        let viewer = ViewerHeaders(pop: viewing.pop, requestId: viewing.requestId, timeScale: clock.timeScale)
        let response = answer(hit, xCache: "Hit", key: key, behavior: behavior, request: request, cache: cache, viewer: viewer)
        return viewed(response, viewing, request: request)
    }

    enum View {
        case answered(ProtocolResponse)
        case serve(Viewing)
    }

    /// The distribution, behavior and edge location of a request, or the edge's own answer (a
    /// disabled distribution, a method or protocol the behavior refuses).
    func view(_ request: HostRoute.Request) -> View {
        let started = ContinuousClock.now
        let index = location(request)
        let pop = configuration.locations[index].name
        let requestId = ResourceID.opaque(length: 54) + "=="
        guard let plan = distributions.plan(request.name), plan.enabled else {
            return .answered(errorPage(403, "Bad request.", "The request could not be satisfied.", pop: pop, requestId: requestId))
        }
        var path = request.path
        if path == "/", let root = plan.defaultRootObject { path = "/" + root }
        let behavior = plan.behavior(for: path)
        guard behavior.allowedMethods.contains(request.method) else {
            return .answered(
                errorPage(
                    403, "Bad request.", "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.",
                    pop: pop, requestId: requestId))
        }
        switch request.secure ? "allow-all" : behavior.viewerProtocolPolicy {
        case "redirect-to-https":
            let query = request.query.isEmpty ? "" : "?" + request.queryString
            var response = errorPage(301, "Moved Permanently", "", pop: pop, requestId: requestId, xCache: "Redirect")
            response.headers.append(("Location", "https://" + (request.header("Host") ?? "") + request.path + query))
            return .answered(response)
        case "https-only":
            return .answered(errorPage(403, "Bad request.", "The distribution only accepts HTTPS requests.", pop: pop, requestId: requestId))
        default:
            return .serve(Viewing(plan: plan, behavior: behavior, path: path, index: index, pop: pop, requestId: requestId, started: started))
        }
    }

    /// The response as the viewer gets it: the behavior's response headers policy applied,
    /// counted in the metrics and written to the standard logs.
    func viewed(_ response: ProtocolResponse, _ viewing: Viewing, request: HostRoute.Request) -> ProtocolResponse {
        var response = response
        let plan = viewing.plan
        if let policy = viewing.behavior.responseHeaders { ViewerHeaders.apply(policy, request: request, to: &response) }
        count(plan.id, response)
        if let logging = plan.logging {
            let elapsed = ContinuousClock.now - viewing.started
            let line = StandardLogs.line(
                plan, request: request, response: response, pop: viewing.pop, requestId: viewing.requestId,
                seconds: elapsed.inSeconds, at: clock.now,
                domainName: "\(plan.id.lowercased()).cloudfront.\(hostSuffix)", cookies: logging.cookies)
            standardLogs.append(line, to: .init(bucket: logging.bucket, prefix: logging.prefix, source: plan.id))
        }
        return response
    }

    func serve(
        plan: DistributionPlan, behavior: BehaviorPlan, path: String, request: HostRoute.Request, cache: EdgeCache, pop: String,
        requestId: String, errorPageFor: Int? = nil
    ) async -> ProtocolResponse {
        let cacheable = (request.method == "GET" || request.method == "HEAD") && behavior.cachedMethods.contains(request.method)
            && behavior.maxTTL > 0
        let key = cacheable ? CacheRules.key(distribution: plan.id, path: path, request: request, selection: behavior.cacheKey) : nil
        let outcome: Outcome
        if let key {
            outcome = await cached(key: key, plan: plan, behavior: behavior, path: path, request: request, cache: cache, requestId: requestId)
        } else {
            outcome = await fetch(plan: plan, behavior: behavior, path: path, request: request, stale: nil, requestId: requestId, passthrough: true)
        }
        let viewer = ViewerHeaders(pop: pop, requestId: requestId, timeScale: clock.timeScale)
        switch outcome {
        case .failed(let status, let message):
            return errorPage(status, status == 504 ? "Gateway Timeout" : "Bad Gateway", message, pop: pop, requestId: requestId)
        case .passthrough(let upstream):
            if upstream.status >= 400, errorPageFor == nil, let custom = await customError(upstream.status, plan: plan, request: request, cache: cache, pop: pop, requestId: requestId) {
                await upstream.discard()
                return custom
            }
            return await viewer.passthrough(upstream, method: request.method)
        case .object(let object, let xCache):
            if object.status >= 400, errorPageFor == nil,
                let custom = await customError(object.status, plan: plan, request: request, cache: cache, pop: pop, requestId: requestId)
            {
                return custom
            }
            return answer(object, xCache: xCache, key: key, behavior: behavior, request: request, cache: cache, viewer: viewer)
        }
    }

    /// A cached object as the viewer gets it: compressed when the viewer takes an encoding the
    /// behavior compresses to, and within the viewer's range and conditions.
    func answer(
        _ object: CachedObject, xCache: String, key: String?, behavior: BehaviorPlan, request: HostRoute.Request, cache: EdgeCache, viewer: ViewerHeaders
    ) -> ProtocolResponse {
        if let encoding = Compression.chosen(behavior.encodings, acceptEncoding: request.header("Accept-Encoding")),
            let variant = compressed(object, encoding: encoding, key: key, request: request, cache: cache)
        {
            return viewer.fromCache(variant, xCache: xCache, request: request, now: .now)
        }
        return viewer.fromCache(object, xCache: xCache, request: request, now: .now)
    }

    /// The compressed variant of a response in `encoding` (`br` or `gzip`), when CloudFront would
    /// compress it (compressible type, 1,000 to 10,000,000 bytes, not already encoded, no range
    /// asked); kept beside the plain copy in the cache. A strong ETag becomes weak, as CloudFront does.
    func compressed(_ object: CachedObject, encoding: String, key: String?, request: HostRoute.Request, cache: EdgeCache) -> CachedObject? {
        guard object.status == 200, request.header("Range") == nil,
            object.header("Content-Encoding") == nil, (1000...10_000_000).contains(object.body.readableBytes),
            Compression.isCompressible(object.header("Content-Type"))
        else { return nil }
        let variantKey = key.map { $0 + "\naccept-encoding:" + encoding }
        if let variantKey, let kept = cache.get(variantKey), kept.storedAt == object.storedAt { return kept }
        guard let body = encoding == "br" ? Brotli.compress(object.body) : Gzip.compress(object.body) else { return nil }
        var variant = object
        variant.body = body
        variant.headers.removeAll { $0.name.caseInsensitiveEquals("Vary") && $0.value.caseInsensitiveEquals("Accept-Encoding") }
        for i in variant.headers.indices where variant.headers[i].name.caseInsensitiveEquals("ETag") && !variant.headers[i].value.hasPrefix("W/") {
            variant.headers[i].value = "W/" + variant.headers[i].value
        }
        variant.headers += [("Content-Encoding", encoding), ("Vary", "Accept-Encoding")]
        if let variantKey, object.cacheable { cache.put(variantKey, variant) }
        return variant
    }

    /// A cached answer, a revalidated one, or one fetched for this and every concurrent request for the key.
    func cached(
        key: String, plan: DistributionPlan, behavior: BehaviorPlan, path: String, request: HostRoute.Request, cache: EdgeCache, requestId: String
    ) async -> Outcome {
        let now = ContinuousClock.now
        var stale: CachedObject?
        if let hit = cache.get(key) {
            if hit.isFresh(at: now) { return .object(hit, xCache: hit.isError ? "Error" : "Hit") }
            if !hit.isError, hit.age(at: now) < hit.ttl + hit.staleWhileRevalidate {
                // Serve the stale copy; one background refresh brings the next one.
                _ = leader(key: key) { [self] in
                    await self.fill(key: key, plan: plan, behavior: behavior, path: path, request: request, stale: hit, cache: cache, requestId: requestId)
                }
                return .object(hit, xCache: "Hit")
            }
            if !hit.isError { stale = hit }
        }
        let (task, isLeader) = leader(key: key) { [self, stale] in
            await self.fill(key: key, plan: plan, behavior: behavior, path: path, request: request, stale: stale, cache: cache, requestId: requestId)
        }
        let outcome = await task.value
        if case .passthrough = outcome, !isLeader {
            // An answer that is not cached cannot be shared: fetch for this request alone.
            return await fetch(plan: plan, behavior: behavior, path: path, request: request, stale: nil, requestId: requestId, passthrough: true)
        }
        if case .object(let object, _) = outcome, !isLeader {
            // Only what may be cached is shared with other viewers (never a `private` answer).
            guard object.cacheable else {
                return await fetch(plan: plan, behavior: behavior, path: path, request: request, stale: nil, requestId: requestId, passthrough: true)
            }
            return .object(object, xCache: object.isError ? "Error" : "Hit")
        }
        return outcome
    }

    /// The running fetch for a key, or a new one started with `body`; true when this call started it.
    func leader(key: String, _ body: @escaping @Sendable () async -> Outcome) -> (Task<Outcome, Never>, Bool) {
        inflight.withLock { running in
            if let task = running[key] { return (task, false) }
            let task = Task { [self] in
                let outcome = await body()
                _ = inflight.withLock { $0.removeValue(forKey: key) }
                return outcome
            }
            running[key] = task
            return (task, true)
        }
    }

    /// Fetches from the origin and keeps what may be kept.
    func fill(
        key: String, plan: DistributionPlan, behavior: BehaviorPlan, path: String, request: HostRoute.Request, stale: CachedObject?,
        cache: EdgeCache, requestId: String
    ) async -> Outcome {
        var getRequest = request
        getRequest.method = "GET"
        let outcome = await fetch(plan: plan, behavior: behavior, path: path, request: getRequest, stale: stale, requestId: requestId, passthrough: false)
        let staleUsable = stale.map { ContinuousClock.now - $0.storedAt < $0.ttl + $0.staleIfError } ?? false
        switch outcome {
        case .object(let object, _):
            if object.status == 304, var refreshed = stale {
                // 304: the copy is current again, with the origin's new caching headers.
                let merged = refreshed.headers.filter { h in !object.headers.contains { $0.name.caseInsensitiveEquals(h.name) } } + object.headers
                let life = CacheRules.lifetime(headers: merged, behavior: behavior, now: clock.now)
                refreshed.headers = merged
                refreshed.storedAt = .now
                refreshed.ttl = clock.duration(awsSeconds: life.ttl ?? 0)
                refreshed.staleWhileRevalidate = clock.duration(awsSeconds: life.staleWhileRevalidate)
                refreshed.staleIfError = clock.duration(awsSeconds: life.staleIfError)
                cache.put(key, refreshed)
                return .object(refreshed, xCache: "RefreshHit")
            }
            if object.status >= 500, let stale, staleUsable { return .object(stale, xCache: "Hit") }
            if object.cacheable { cache.put(key, object) }
            return .object(object, xCache: object.isError ? "Error" : "Miss")
        case .failed:
            if let stale, staleUsable { return .object(stale, xCache: "Hit") }
            return outcome
        case .passthrough:
            return outcome
        }
    }

    /// A custom error response: the page at `ResponsePagePath` (served through the cache like
    /// any other path) with the configured status.
    func customError(_ status: Int, plan: DistributionPlan, request: HostRoute.Request, cache: EdgeCache, pop: String, requestId: String) async -> ProtocolResponse? {
        guard let rule = plan.errorResponses[status], let page = rule.pagePath else { return nil }
        var pageRequest = request
        pageRequest.method = "GET"
        pageRequest.query = []
        pageRequest.headers = request.headers.filter { !["range", "if-none-match", "if-modified-since"].contains($0.name.lowercased()) }
        var response = await serve(
            plan: plan, behavior: plan.behavior(for: page), path: page, request: pageRequest, cache: cache, pop: pop, requestId: requestId,
            errorPageFor: status)
        guard response.status < 400 else { return nil }
        response.status = rule.responseCode ?? status
        response.headers = response.headers.map { $0.name.caseInsensitiveEquals("X-Cache") ? ($0.name, "Error from cloudfront") : $0 }
        if request.method == "HEAD" { response.bodyStream = nil }
        return response
    }

    func errorPage(_ status: Int, _ title: String, _ message: String, pop: String, requestId: String, xCache: String = "Error") -> ProtocolResponse {
        let html = """
            <!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
            <HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">
            <TITLE>ERROR: The request could not be satisfied</TITLE>
            </HEAD><BODY>
            <H1>\(status) ERROR</H1>
            <H2>The request could not be satisfied.</H2>
            <HR noshade size="1px">
            \(title) \(message)
            <BR clear="all">
            <HR noshade size="1px">
            <PRE>
            Generated by cloudfront (CloudFront)
            Request ID: \(requestId)
            </PRE>
            <ADDRESS>
            </ADDRESS>
            </BODY></HTML>
            """
        var headers = [("Content-Type", "text/html"), ("Server", "CloudFront")]
        headers += ViewerHeaders(pop: pop, requestId: requestId, timeScale: clock.timeScale).identity(xCache: xCache)
        return ProtocolResponse(status: status, headers: headers, body: Array(html.utf8))
    }

    func count(_ distribution: String, _ response: ProtocolResponse) {
        guard let metrics else { return }
        let keys = countKeys(distribution)
        metrics.add(1, to: keys.requests)
        let bytes = response.bodyStream?.length.map(Int.init) ?? response.body.count
        metrics.add(Double(bytes), to: keys.bytes)
        if (400..<500).contains(response.status) { metrics.add(1, to: keys.errors4xx) }
        if response.status >= 500 { metrics.add(1, to: keys.errors5xx) }
        let hit = response.headers.contains { $0.name == "X-Cache" && ($0.value.hasPrefix("Hit") || $0.value.hasPrefix("RefreshHit")) }
        metrics.add(hit ? 1 : 0, to: keys.hits)
    }

    /// A distribution's `AWS/CloudFront` series, made once.
    struct CountKeys: Sendable {
        var requests, bytes, errors4xx, errors5xx, hits: MetricKey
    }

    func countKeys(_ distribution: String) -> CountKeys {
        if let known = metricKeys.withLock({ $0[distribution] }) { return known }
        let dims = [("DistributionId", distribution), ("Region", "Global")]
        func key(_ name: String) -> MetricKey { MetricKey(namespace: "AWS/CloudFront", name: name, dimensions: dims) }
        let keys = CountKeys(requests: key("Requests"), bytes: key("BytesDownloaded"), errors4xx: key("4xxErrors"), errors5xx: key("5xxErrors"), hits: key("CacheHits"))
        metricKeys.withLock { all in
            if all.count > 10_000 { all.removeAll() }
            all[distribution] = keys
        }
        return keys
    }

    /// Gauges for `/_kumo/metrics`: bytes and objects per edge location, evictions.
    func gauges() -> [(MetricKey, Double)] {
        caches.flatMap { cache -> [(MetricKey, Double)] in
            let u = cache.usage
            let dims = [("EdgeLocation", cache.name)]
            return [
                (MetricKey(namespace: "Kumo/CloudFront", name: "CacheBytes", dimensions: dims), Double(u.bytes)),
                (MetricKey(namespace: "Kumo/CloudFront", name: "CacheObjects", dimensions: dims), Double(u.objects)),
                (MetricKey(namespace: "Kumo/CloudFront", name: "Evictions", dimensions: dims), Double(u.evictions)),
            ]
        }
    }
}
