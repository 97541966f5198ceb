import KumoCore
import KumoProtocols

/// A distribution's configuration as the edge uses it: parsed once per change, with its
/// cache policies resolved, so a request only walks plain values.
struct DistributionPlan: Sendable {
    var id: String
    var arn: String
    var enabled: Bool
    var aliases: [String]
    /// The ACM certificate presented to HTTPS viewers of the aliases (`ViewerCertificate`).
    var viewerCertificateArn: String?
    var defaultRootObject: String?
    var origins: [String: OriginPlan]
    /// Origin groups by id: members in failover order and the statuses that fail over.
    var groups: [String: (members: [String], failoverOn: Set<Int>)]
    /// Ordered behaviors first, the default behavior last (pattern `*`).
    var behaviors: [BehaviorPlan]
    var errorResponses: [Int: ErrorResponsePlan]
    /// Standard logging: the bucket (its name), the key prefix and whether cookies are logged.
    var logging: (bucket: String, prefix: String, cookies: Bool)?

    /// The first behavior whose path pattern matches the path.
    func behavior(for path: String) -> BehaviorPlan {
        let bare = path.hasPrefix("/") ? String(path.dropFirst()) : path
        for b in behaviors where Wildcard.matches(b.pattern, bare) { return b }
        return behaviors[behaviors.count - 1]
    }
}

struct OriginPlan: Sendable {
    enum Target: Sendable, Equatable {
        /// An S3 bucket's REST endpoint.
        case s3(bucket: String)
        /// An S3 bucket's website endpoint.
        case s3Website(bucket: String)
        /// Any HTTP server; `kumo` when the name is one of Kumo's own (served by the edge).
        case custom(host: String, port: Int, https: Bool, kumo: Bool)
    }

    var id: String
    var domainName: String
    var target: Target
    var originPath: String
    var customHeaders: [(name: String, value: String)]
    /// Sign origin requests as CloudFront (origin access control with SigV4).
    var signs: Bool
    /// Keep a viewer's own Authorization header instead of signing (`no-override`).
    var keepsViewerAuthorization: Bool
    var readTimeoutSeconds: Int
}

struct ErrorResponsePlan: Sendable {
    var pagePath: String?
    var responseCode: Int?
    var cachingMinTTL: Double
}

/// What goes into the cache key, and what is forwarded to the origin.
struct ParameterSelection: Sendable {
    enum Names: Sendable {
        case none, all
        case only(Set<String>)
        case allExcept(Set<String>)

        func includes(_ name: String) -> Bool {
            switch self {
            case .none: false
            case .all: true
            case .only(let s): s.contains(name)
            case .allExcept(let s): !s.contains(name)
            }
        }
    }

    var queryStrings: Names = .none
    /// Header names, lower-cased.
    var headers: Names = .none
    var cookies: Names = .none
}

struct BehaviorPlan: Sendable {
    var pattern: String
    var targetOriginId: String
    var viewerProtocolPolicy: String
    var allowedMethods: Set<String>
    var cachedMethods: Set<String>
    var minTTL: Double
    var defaultTTL: Double
    var maxTTL: Double
    var cacheKey: ParameterSelection
    /// Forwarded to the origin besides the cache key's parameters (origin request policy).
    var forwarded: ParameterSelection
    /// What the edge may compress into, preferred first (`br`, `gzip`); empty when the behavior
    /// does not compress. Brotli needs a cache policy that enables it; legacy settings get gzip.
    var encodings: [String]
    var responseHeaders: ResponseHeadersPlan?
}

struct ResponseHeadersPlan: Sendable {
    struct Cors: Sendable {
        var allowOrigins: [String]
        var allowMethods: [String]
        var allowHeaders: [String]
        var exposeHeaders: [String]
        var maxAge: Int?
        var allowCredentials: Bool
        var originOverride: Bool
    }

    var cors: Cors?
    /// Headers to add: (name, value, override).
    var custom: [(name: String, value: String, override: Bool)]
    var remove: [String]
}

extension DistributionPlan {
    /// Builds the plan; `policies` resolves a policy id of a kind (`cache-policy`, ...) to its config.
    init(id: String, arn: String, config c: ShapeValue, hostSuffix: String, policies: (String, String) -> ShapeValue?) {
        self.id = id
        self.arn = arn
        enabled = c["Enabled"]?.bool ?? false
        aliases = Self.items(c["Aliases"]).compactMap { $0.string?.lowercased() }
        viewerCertificateArn = c["ViewerCertificate"]?["ACMCertificateArn"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        defaultRootObject = c["DefaultRootObject"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        var origins: [String: OriginPlan] = [:]
        for o in Self.items(c["Origins"]) {
            let plan = OriginPlan(origin: o, hostSuffix: hostSuffix)
            origins[plan.id] = plan
        }
        self.origins = origins
        var groups: [String: (members: [String], failoverOn: Set<Int>)] = [:]
        for g in Self.items(c["OriginGroups"]) {
            let members = Self.items(g["Members"]).compactMap { $0["OriginId"]?.string }
            let statuses = Set(Self.items(g["FailoverCriteria"]?["StatusCodes"]).compactMap(\.int))
            groups[g["Id"]?.string ?? ""] = (members, statuses)
        }
        self.groups = groups
        var behaviors = Self.items(c["CacheBehaviors"]).map { BehaviorPlan(behavior: $0, policies: policies) }
        var fallback = BehaviorPlan(behavior: c["DefaultCacheBehavior"] ?? .empty, policies: policies)
        fallback.pattern = "*"
        behaviors.append(fallback)
        self.behaviors = behaviors
        var errors: [Int: ErrorResponsePlan] = [:]
        for e in Self.items(c["CustomErrorResponses"]) {
            guard let code = e["ErrorCode"]?.int else { continue }
            errors[code] = ErrorResponsePlan(
                pagePath: e["ResponsePagePath"]?.string.flatMap { $0.isEmpty ? nil : $0 },
                responseCode: e["ResponseCode"]?.string.flatMap { Int($0) },
                cachingMinTTL: e["ErrorCachingMinTTL"]?.double ?? 10)
        }
        errorResponses = errors
        if let l = c["Logging"], l["Enabled"]?.bool == true, let bucket = Self.logBucket(l["Bucket"]?.string ?? "") {
            logging = (bucket, l["Prefix"]?.string ?? "", l["IncludeCookies"]?.bool ?? false)
        }
    }

    /// The bucket of a logging config: `name.s3.amazonaws.com`, `name.s3.<region>.amazonaws.com`,
    /// `name.s3.localhost` or the bare name.
    static func logBucket(_ domain: String) -> String? {
        let lower = domain.lowercased()
        guard !lower.isEmpty else { return nil }
        if let range = lower.firstRange(of: ".s3.") ?? lower.firstRange(of: ".s3-") { return String(lower[..<range.lowerBound]) }
        return lower
    }

    static func items(_ v: ShapeValue?) -> [ShapeValue] { v?["Items"]?.list ?? [] }
}

extension OriginPlan {
    init(origin o: ShapeValue, hostSuffix: String) {
        id = o["Id"]?.string ?? ""
        domainName = (o["DomainName"]?.string ?? "").lowercased()
        originPath = o["OriginPath"]?.string ?? ""
        customHeaders = DistributionPlan.items(o["CustomHeaders"]).map { (name: $0["HeaderName"]?.string ?? "", value: $0["HeaderValue"]?.string ?? "") }
        let custom = o["CustomOriginConfig"]
        readTimeoutSeconds = custom?["OriginReadTimeout"]?.int ?? o["S3OriginConfig"]?["OriginReadTimeout"]?.int ?? 30
        signs = !(o["OriginAccessControlId"]?.string ?? "").isEmpty
        keepsViewerAuthorization = false
        target = Self.target(domainName, suffix: hostSuffix, custom: custom)
        if case .custom = target { signs = false }
    }

    /// Reads the origin domain forms users have in their configs: S3 REST and website
    /// endpoints on amazonaws.com or Kumo's suffix, or any other HTTP server.
    static func target(_ domain: String, suffix: String, custom: ShapeValue?) -> Target {
        var host = domain
        for s in [".amazonaws.com", "." + suffix] where host.hasSuffix(s) {
            host = String(host.dropLast(s.count))
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            if let i = labels.lastIndex(where: { $0 == "s3-website" || $0.hasPrefix("s3-website-") }), i > 0, labels.count - i <= 2 {
                return .s3Website(bucket: labels[..<i].joined(separator: "."))
            }
            if let i = labels.lastIndex(where: { $0 == "s3" || $0.hasPrefix("s3-") }), i > 0, labels.count - i <= 2 {
                return .s3(bucket: labels[..<i].joined(separator: "."))
            }
            break
        }
        let policy = custom?["OriginProtocolPolicy"]?.string ?? "http-only"
        let https = policy == "https-only"
        let port = https ? custom?["HTTPSPort"]?.int ?? 443 : custom?["HTTPPort"]?.int ?? 80
        return .custom(host: domain, port: port, https: https, kumo: domain == suffix || domain.hasSuffix("." + suffix))
    }
}

extension BehaviorPlan {
    init(behavior b: ShapeValue, policies: (String, String) -> ShapeValue?) {
        pattern = b["PathPattern"]?.string ?? "*"
        if pattern.hasPrefix("/") { pattern.removeFirst() }
        targetOriginId = b["TargetOriginId"]?.string ?? ""
        viewerProtocolPolicy = b["ViewerProtocolPolicy"]?.string ?? "allow-all"
        let allowed = b["AllowedMethods"]
        allowedMethods = Set(DistributionPlan.items(allowed).compactMap(\.string))
        if allowedMethods.isEmpty { allowedMethods = ["GET", "HEAD"] }
        cachedMethods = Set(DistributionPlan.items(allowed?["CachedMethods"]).compactMap(\.string))
        if cachedMethods.isEmpty { cachedMethods = ["GET", "HEAD"] }
        let compress = b["Compress"]?.bool ?? false
        encodings = compress ? ["gzip"] : []
        if let id = b["CachePolicyId"]?.string, !id.isEmpty, let policy = policies("cache-policy", id) {
            minTTL = policy["MinTTL"]?.double ?? 0
            defaultTTL = policy["DefaultTTL"]?.double ?? Swift.max(minTTL, 86400)
            maxTTL = policy["MaxTTL"]?.double ?? Swift.max(defaultTTL, 31_536_000)
            let p = policy["ParametersInCacheKeyAndForwardedToOrigin"]
            encodings = !compress ? [] : [("br", "EnableAcceptEncodingBrotli"), ("gzip", "EnableAcceptEncodingGzip")].compactMap { encoding, flag in
                p?[flag]?.bool == true ? encoding : nil
            }
            cacheKey = ParameterSelection(
                queryStrings: Self.names(p?["QueryStringsConfig"]?["QueryStringBehavior"]?.string, p?["QueryStringsConfig"]?["QueryStrings"], lower: false),
                headers: Self.names(p?["HeadersConfig"]?["HeaderBehavior"]?.string, p?["HeadersConfig"]?["Headers"], lower: true),
                cookies: Self.names(p?["CookiesConfig"]?["CookieBehavior"]?.string, p?["CookiesConfig"]?["Cookies"], lower: false))
        } else {
            // Legacy settings: ForwardedValues and the behavior's own TTLs.
            let f = b["ForwardedValues"]
            minTTL = b["MinTTL"]?.double ?? 0
            defaultTTL = b["DefaultTTL"]?.double ?? Swift.max(minTTL, 86400)
            maxTTL = b["MaxTTL"]?.double ?? Swift.max(defaultTTL, 31_536_000)
            var qs: ParameterSelection.Names = .none
            if f?["QueryString"]?.bool == true {
                let keys = DistributionPlan.items(f?["QueryStringCacheKeys"]).compactMap(\.string)
                qs = keys.isEmpty ? .all : .only(Set(keys))
            }
            let headers = DistributionPlan.items(f?["Headers"]).compactMap { $0.string?.lowercased() }
            let cookies = f?["Cookies"]
            cacheKey = ParameterSelection(
                queryStrings: qs,
                headers: headers.contains("*") ? .all : headers.isEmpty ? .none : .only(Set(headers)),
                cookies: Self.names(cookies?["Forward"]?.string, cookies?["WhitelistedNames"], lower: false))
        }
        forwarded = ParameterSelection()
        if let id = b["OriginRequestPolicyId"]?.string, !id.isEmpty, let p = policies("origin-request-policy", id) {
            forwarded = ParameterSelection(
                queryStrings: Self.names(p["QueryStringsConfig"]?["QueryStringBehavior"]?.string, p["QueryStringsConfig"]?["QueryStrings"], lower: false),
                headers: Self.names(p["HeadersConfig"]?["HeaderBehavior"]?.string, p["HeadersConfig"]?["Headers"], lower: true),
                cookies: Self.names(p["CookiesConfig"]?["CookieBehavior"]?.string, p["CookiesConfig"]?["Cookies"], lower: false))
        }
        if let id = b["ResponseHeadersPolicyId"]?.string, !id.isEmpty, let p = policies("response-headers-policy", id) {
            responseHeaders = ResponseHeadersPlan(config: p)
        }
    }

    /// `none` / `all` / `whitelist` / `allExcept` / `allViewer...` with their name lists.
    static func names(_ behavior: String?, _ list: ShapeValue?, lower: Bool) -> ParameterSelection.Names {
        let names = Set(DistributionPlan.items(list).compactMap { lower ? $0.string?.lowercased() : $0.string })
        switch behavior {
        case "all", "allViewer": return .all
        case "whitelist", "allViewerAndWhitelistCloudFront": return behavior == "whitelist" ? .only(names) : .all
        case "allExcept": return .allExcept(names)
        default: return .none
        }
    }
}

extension ResponseHeadersPlan {
    init(config p: ShapeValue) {
        if let c = p["CorsConfig"] {
            cors = Cors(
                allowOrigins: DistributionPlan.items(c["AccessControlAllowOrigins"]).compactMap(\.string),
                allowMethods: DistributionPlan.items(c["AccessControlAllowMethods"]).compactMap(\.string),
                allowHeaders: DistributionPlan.items(c["AccessControlAllowHeaders"]).compactMap(\.string),
                exposeHeaders: DistributionPlan.items(c["AccessControlExposeHeaders"]).compactMap(\.string),
                maxAge: c["AccessControlMaxAgeSec"]?.int, allowCredentials: c["AccessControlAllowCredentials"]?.bool ?? false,
                originOverride: c["OriginOverride"]?.bool ?? false)
        }
        var custom = DistributionPlan.items(p["CustomHeadersConfig"]).map {
            (name: $0["Header"]?.string ?? "", value: $0["Value"]?.string ?? "", override: $0["Override"]?.bool ?? false)
        }
        if let s = p["SecurityHeadersConfig"] {
            if let o = s["ContentTypeOptions"] { custom.append(("X-Content-Type-Options", "nosniff", o["Override"]?.bool ?? false)) }
            if let o = s["FrameOptions"], let v = o["FrameOption"]?.string { custom.append(("X-Frame-Options", v, o["Override"]?.bool ?? false)) }
            if let o = s["ReferrerPolicy"], let v = o["ReferrerPolicy"]?.string { custom.append(("Referrer-Policy", v, o["Override"]?.bool ?? false)) }
            if let o = s["StrictTransportSecurity"], let age = o["AccessControlMaxAgeSec"]?.int {
                var v = "max-age=\(age)"
                if o["IncludeSubdomains"]?.bool == true { v += "; includeSubDomains" }
                if o["Preload"]?.bool == true { v += "; preload" }
                custom.append(("Strict-Transport-Security", v, o["Override"]?.bool ?? false))
            }
            if let o = s["XSSProtection"] {
                var v = o["Protection"]?.bool == false ? "0" : "1"
                if o["Protection"]?.bool != false, o["ModeBlock"]?.bool == true { v += "; mode=block" }
                custom.append(("X-XSS-Protection", v, o["Override"]?.bool ?? false))
            }
            if let o = s["ContentSecurityPolicy"], let v = o["ContentSecurityPolicy"]?.string {
                custom.append(("Content-Security-Policy", v, o["Override"]?.bool ?? false))
            }
        }
        self.custom = custom
        remove = DistributionPlan.items(p["RemoveHeadersConfig"]).compactMap { $0["Header"]?.string }
    }
}
