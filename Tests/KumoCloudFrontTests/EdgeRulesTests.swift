import Foundation
import KumoCore
import KumoProtocols
import NIOCore
import Testing

@testable import KumoCloudFront

@Suite struct EdgeRulesTests {
    func behavior(min: Double = 0, def: Double = 86400, max: Double = 31_536_000) -> BehaviorPlan {
        var b = BehaviorPlan(behavior: ["TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0], policies: { _, _ in nil })
        b.minTTL = min
        b.defaultTTL = def
        b.maxTTL = max
        return b
    }

    @Test func ttlFromCacheControlBoundedByThePolicy() {
        let now = Date()
        let b = behavior(min: 10, def: 100, max: 1000)
        #expect(CacheRules.lifetime(headers: [("Cache-Control", "max-age=50")], behavior: b, now: now).ttl == 50)
        #expect(CacheRules.lifetime(headers: [("Cache-Control", "max-age=5")], behavior: b, now: now).ttl == 10)
        #expect(CacheRules.lifetime(headers: [("Cache-Control", "public, max-age=5000")], behavior: b, now: now).ttl == 1000)
        #expect(CacheRules.lifetime(headers: [("Cache-Control", "max-age=50, s-maxage=70")], behavior: b, now: now).ttl == 70)
        #expect(CacheRules.lifetime(headers: [], behavior: b, now: now).ttl == 100)
        let expires = Timestamp.httpDate(now.addingTimeInterval(300))
        let fromExpires = CacheRules.lifetime(headers: [("Expires", expires)], behavior: b, now: now).ttl ?? 0
        #expect(fromExpires > 290 && fromExpires <= 300)
        let swr = CacheRules.lifetime(headers: [("Cache-Control", "max-age=60, stale-while-revalidate=30, stale-if-error=600")], behavior: b, now: now)
        #expect(swr.staleWhileRevalidate == 30 && swr.staleIfError == 600)
    }

    @Test func noStoreIsNotCachedUnlessTheMinimumSaysSo() {
        let now = Date()
        #expect(CacheRules.lifetime(headers: [("Cache-Control", "no-store")], behavior: behavior(), now: now).ttl == nil)
        #expect(CacheRules.lifetime(headers: [("Cache-Control", "private")], behavior: behavior(), now: now).ttl == nil)
        #expect(CacheRules.lifetime(headers: [("Cache-Control", "no-cache")], behavior: behavior(min: 20), now: now).ttl == 20)
        #expect(CacheRules.lifetime(headers: [], behavior: behavior(min: 0, def: 0, max: 0), now: now).ttl == nil)
    }

    @Test func cacheKeyHoldsOnlyWhatThePolicyNames() {
        let request = HostRoute.Request(
            method: "GET", path: "/a", query: [("b", "2"), ("a", "1"), ("utm", "x")], headers: [("Accept-Language", "fr"), ("Cookie", "s=1; t=2")],
            remoteAddress: nil, name: "E1")
        let none = CacheRules.key(distribution: "E1", path: "/a", request: request, selection: ParameterSelection())
        #expect(none == "E1 /a")
        let some = CacheRules.key(
            distribution: "E1", path: "/a", request: request,
            selection: ParameterSelection(queryStrings: .allExcept(["utm"]), headers: .only(["accept-language"]), cookies: .only(["t"])))
        #expect(some == "E1 /a?a=1&b=2\naccept-language:fr\ncookie:t=2")
    }

    @Test func originDomainFormsResolveToKumosOwnResources() {
        func target(_ d: String, custom: ShapeValue? = nil) -> OriginPlan.Target { OriginPlan.target(d, suffix: "localhost", custom: custom) }
        #expect(target("site.s3.amazonaws.com") == .s3(bucket: "site"))
        #expect(target("my.site.s3.eu-west-1.amazonaws.com") == .s3(bucket: "my.site"))
        #expect(target("site.s3-eu-west-1.amazonaws.com") == .s3(bucket: "site"))
        #expect(target("site.s3.localhost") == .s3(bucket: "site"))
        #expect(target("www.s3-website-us-east-1.amazonaws.com") == .s3Website(bucket: "www"))
        #expect(target("www.s3-website.eu-west-1.amazonaws.com") == .s3Website(bucket: "www"))
        let custom: ShapeValue = ["HTTPPort": 8080, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"]
        #expect(target("api.example.com", custom: custom) == .custom(host: "api.example.com", port: 8080, https: false, kumo: false))
        #expect(target("app.elb.localhost", custom: custom) == .custom(host: "app.elb.localhost", port: 8080, https: false, kumo: true))
    }

    @Test func behaviorsMatchInOrderWithTheDefaultLast() {
        let config: ShapeValue = [
            "Enabled": true,
            "Origins": ["Quantity": 1, "Items": [["Id": "o", "DomainName": "b.s3.amazonaws.com"]]],
            "DefaultCacheBehavior": ["TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all"],
            "CacheBehaviors": ["Quantity": 2, "Items": [
                ["PathPattern": "/api/v?/*", "TargetOriginId": "api", "ViewerProtocolPolicy": "https-only"],
                ["PathPattern": "*.jpg", "TargetOriginId": "img", "ViewerProtocolPolicy": "allow-all"],
            ]],
        ]
        let plan = DistributionPlan(id: "E1", arn: "arn", config: config, hostSuffix: "localhost", policies: { _, _ in nil })
        #expect(plan.behavior(for: "/api/v1/users").targetOriginId == "api")
        #expect(plan.behavior(for: "/api/v10/users").targetOriginId == "o")
        #expect(plan.behavior(for: "/img/cat.jpg").targetOriginId == "img")
        #expect(plan.behavior(for: "/index.html").targetOriginId == "o")
    }

    func object(_ path: String, distribution: String = "E1", bytes: Int = 100) -> CachedObject {
        CachedObject(
            distributionId: distribution, path: path, status: 200, headers: [], body: ByteBuffer(repeating: 0, count: bytes), storedAt: .now,
            ttl: .seconds(60), staleWhileRevalidate: .zero, staleIfError: .zero, isError: false, cacheable: true)
    }

    @Test func cacheEvictsLeastRecentlyUsedByBytes() {
        let cache = EdgeCache(name: "T", budget: 3 * (356 + 10))
        cache.put("a", object("/a"))
        cache.put("b", object("/b"))
        cache.put("c", object("/c"))
        _ = cache.get("a")
        cache.put("d", object("/d"))
        #expect(cache.get("b") == nil)
        #expect(cache.get("a") != nil && cache.get("c") != nil && cache.get("d") != nil)
        #expect(cache.usage.evictions == 1)
    }

    @Test func invalidationPathsMatchExactlyOrByPrefix() {
        let cache = EdgeCache(name: "T", budget: 1 << 20)
        for p in ["/index.html", "/img/a.png", "/img/b.png", "/imgs/c.png", "/caf%C3%A9"] { cache.put(p, object(p)) }
        cache.put("other", object("/img/a.png", distribution: "E2"))
        #expect(cache.remove(distribution: "E1", paths: ["/img/*"]) == 2)
        #expect(cache.get("/imgs/c.png") != nil && cache.get("other") != nil)
        #expect(cache.remove(distribution: "E1", paths: ["/café"]) == 1)
        #expect(cache.remove(distribution: "E1", paths: ["/*"]) == 2)
        #expect(cache.usage.objects == 1)
    }
}

@Suite struct CompressionTests {
    @Test func theBehaviorsFirstAcceptedEncodingWins() {
        #expect(Compression.chosen(["br", "gzip"], acceptEncoding: "gzip, deflate, br") == "br")
        #expect(Compression.chosen(["br", "gzip"], acceptEncoding: "gzip, br;q=0") == "gzip")
        #expect(Compression.chosen(["br", "gzip"], acceptEncoding: "BR ; q=0.5") == "br")
        #expect(Compression.chosen(["gzip"], acceptEncoding: "br") == nil)
        #expect(Compression.chosen([], acceptEncoding: "gzip") == nil)
        #expect(Compression.chosen(["gzip"], acceptEncoding: nil) == nil)
    }

    @Test func brotliNeedsACachePolicyThatEnablesIt() {
        let legacy = BehaviorPlan(behavior: ["TargetOriginId": "o", "Compress": true], policies: { _, _ in nil })
        #expect(legacy.encodings == ["gzip"])
        let policy: ShapeValue = ["ParametersInCacheKeyAndForwardedToOrigin": ["EnableAcceptEncodingGzip": true, "EnableAcceptEncodingBrotli": true]]
        let both = BehaviorPlan(behavior: ["TargetOriginId": "o", "Compress": true, "CachePolicyId": "p"], policies: { _, _ in policy })
        #expect(both.encodings == ["br", "gzip"])
        let off = BehaviorPlan(behavior: ["TargetOriginId": "o", "Compress": false, "CachePolicyId": "p"], policies: { _, _ in policy })
        #expect(off.encodings.isEmpty)
    }
}
