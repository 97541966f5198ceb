import KumoProtocols

/// The AWS-managed cache, origin request and response headers policies, with the ids
/// and settings AWS publishes, so configurations that name them work unchanged.
enum ManagedPolicies {
    static let cachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
    static let cachingDisabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"

    static let cache: [(id: String, config: ShapeValue)] = [
        (cachingOptimized, cachePolicy("Managed-CachingOptimized", "Policy with caching enabled. Supports Gzip and Brotli compression.", 1, 86400, 31_536_000, compress: true)),
        (cachingDisabled, cachePolicy("Managed-CachingDisabled", "Policy with caching disabled", 0, 0, 0, compress: false)),
        ("b2884449-e4de-46a7-ac36-70bc7f1ddd6d", cachePolicy("Managed-CachingOptimizedForUncompressedObjects", "Default policy when compression is disabled", 1, 86400, 31_536_000, compress: false)),
        ("83da9c7e-98b4-4e11-a168-04f0df8e2c65", cachePolicy(
            "Managed-UseOriginCacheControlHeaders", "Policy for origins that return Cache-Control headers. Query strings are not included in the cache key.",
            0, 0, 31_536_000, compress: true, headers: ["host", "origin", "x-http-method-override", "x-http-method", "x-method-override"], cookies: "all")),
        ("4cc15a8a-d715-48a4-82b8-cc0b614638fe", cachePolicy(
            "Managed-UseOriginCacheControlHeaders-QueryStrings", "Policy for origins that return Cache-Control headers and serve different content based on query strings.",
            0, 0, 31_536_000, compress: true, headers: ["host", "origin", "x-http-method-override", "x-http-method", "x-method-override"], cookies: "all", queryStrings: "all")),
        ("2e54312d-136d-493c-8eb9-b001f22f67d2", cachePolicy(
            "Managed-Amplify", "Policy for Amplify Origin", 2, 2, 600, compress: true,
            headers: ["authorization", "cloudfront-viewer-country", "host"], cookies: "all", queryStrings: "all")),
    ]

    static let originRequest: [(id: String, config: ShapeValue)] = [
        ("216adef6-5c7f-47e4-b989-5492eafa07d3", originRequestPolicy("Managed-AllViewer", "Policy to forward all parameters in viewer requests", headers: "allViewer", cookies: "all", queryStrings: "all")),
        ("b689b0a8-53d0-40ab-baf2-68738e2966ac", originRequestPolicy(
            "Managed-AllViewerExceptHostHeader", "Policy to forward all parameters in viewer requests except for the Host header",
            headers: "allExcept", names: ["host"], cookies: "all", queryStrings: "all")),
        ("88a5eaf4-2fd4-4709-b370-b4c650ea3fcf", originRequestPolicy(
            "Managed-CORS-S3Origin", "Policy for origin request headers for S3 origins with CORS",
            headers: "whitelist", names: ["origin", "access-control-request-headers", "access-control-request-method"], cookies: "none", queryStrings: "none")),
        ("59781a5b-3903-41f3-afcb-af62929ccde1", originRequestPolicy(
            "Managed-CORS-CustomOrigin", "Policy for origin request headers for custom origins with CORS",
            headers: "whitelist", names: ["origin"], cookies: "none", queryStrings: "none")),
        ("acba4595-bd28-49b8-b9fe-13317c0390fa", originRequestPolicy(
            "Managed-UserAgentRefererHeaders", "Policy to forward user-agent and referer headers to origin",
            headers: "whitelist", names: ["user-agent", "referer"], cookies: "none", queryStrings: "none")),
    ]

    static let responseHeaders: [(id: String, config: ShapeValue)] = [
        ("60669652-455b-4ae9-85a4-c4c02393f86c", [
            "Name": "Managed-SimpleCORS", "Comment": "Allow all origins for simple CORS requests",
            "CorsConfig": cors(methods: ["ALL"], headers: [], expose: []),
        ]),
        ("5cc3b908-e619-4b99-88e5-2cf7f45965bd", [
            "Name": "Managed-CORS-With-Preflight", "Comment": "Allow all origins, methods, headers and expose all headers for CORS",
            "CorsConfig": cors(methods: ["ALL"], headers: ["*"], expose: ["*"]),
        ]),
        ("67f7725c-6f97-4210-82d7-5512b31e9d03", [
            "Name": "Managed-SecurityHeadersPolicy", "Comment": "Adds a set of security headers to every response",
            "SecurityHeadersConfig": securityHeaders,
        ]),
        ("e61eb60c-9c35-4d20-a928-2b84e02af89c", [
            "Name": "Managed-CORS-and-SecurityHeadersPolicy", "Comment": "Allow all origins for simple CORS requests and add security headers",
            "CorsConfig": cors(methods: ["ALL"], headers: [], expose: []), "SecurityHeadersConfig": securityHeaders,
        ]),
    ]

    static func items(_ names: [String]) -> ShapeValue {
        var out: [String: ShapeValue] = ["Quantity": .integer(Int64(names.count))]
        if !names.isEmpty { out["Items"] = .list(names.map { .string($0) }) }
        return .structure(out)
    }

    static func cachePolicy(
        _ name: String, _ comment: String, _ min: Int64, _ def: Int64, _ max: Int64, compress: Bool, headers: [String] = [],
        cookies: String = "none", queryStrings: String = "none"
    ) -> ShapeValue {
        [
            "Name": .string(name), "Comment": .string(comment), "MinTTL": .integer(min), "DefaultTTL": .integer(def), "MaxTTL": .integer(max),
            "ParametersInCacheKeyAndForwardedToOrigin": [
                "EnableAcceptEncodingGzip": .boolean(compress), "EnableAcceptEncodingBrotli": .boolean(compress),
                "HeadersConfig": headers.isEmpty ? ["HeaderBehavior": "none"] : ["HeaderBehavior": "whitelist", "Headers": items(headers)],
                "CookiesConfig": ["CookieBehavior": .string(cookies)],
                "QueryStringsConfig": ["QueryStringBehavior": .string(queryStrings)],
            ],
        ]
    }

    static func originRequestPolicy(
        _ name: String, _ comment: String, headers: String, names: [String] = [], cookies: String, queryStrings: String
    ) -> ShapeValue {
        var headersConfig: [String: ShapeValue] = ["HeaderBehavior": .string(headers)]
        if !names.isEmpty { headersConfig["Headers"] = items(names) }
        return [
            "Name": .string(name), "Comment": .string(comment), "HeadersConfig": .structure(headersConfig),
            "CookiesConfig": ["CookieBehavior": .string(cookies)], "QueryStringsConfig": ["QueryStringBehavior": .string(queryStrings)],
        ]
    }

    static func cors(methods: [String], headers: [String], expose: [String]) -> ShapeValue {
        var out: [String: ShapeValue] = [
            "AccessControlAllowOrigins": items(["*"]), "AccessControlAllowMethods": items(methods),
            "AccessControlAllowHeaders": items(headers), "AccessControlAllowCredentials": false, "OriginOverride": false,
        ]
        if !expose.isEmpty { out["AccessControlExposeHeaders"] = items(expose) }
        return .structure(out)
    }

    static let securityHeaders: ShapeValue = [
        "ContentTypeOptions": ["Override": true],
        "FrameOptions": ["Override": false, "FrameOption": "SAMEORIGIN"],
        "ReferrerPolicy": ["Override": false, "ReferrerPolicy": "strict-origin-when-cross-origin"],
        "StrictTransportSecurity": ["Override": false, "IncludeSubdomains": false, "Preload": false, "AccessControlMaxAgeSec": 31_536_000],
        "XSSProtection": ["Override": false, "Protection": true, "ModeBlock": true],
    ]
}
