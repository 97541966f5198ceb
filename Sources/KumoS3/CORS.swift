public import KumoCore
import GRDB
import KumoStore
public import KumoProtocols

/// A bucket's CORS configuration: checked when put.
enum CORS {
    static let methods: Set = ["GET", "PUT", "POST", "DELETE", "HEAD"]

    static func validate(_ config: ShapeValue) throws {
        let rules = config["CORSRules"]?.list ?? []
        guard !rules.isEmpty, rules.count <= 100 else { throw AWSError.malformedXML() }
        for rule in rules {
            let allowedMethods = (rule["AllowedMethods"]?.list ?? []).compactMap(\.string)
            let origins = (rule["AllowedOrigins"]?.list ?? []).compactMap(\.string)
            guard !allowedMethods.isEmpty, !origins.isEmpty else { throw AWSError.malformedXML() }
            for m in allowedMethods where !methods.contains(m) {
                throw AWSError(code: "InvalidRequest", message: "Found unsupported HTTP method in CORS config. Unsupported method is \(m)")
            }
            for o in origins where o.filter({ $0 == "*" }).count > 1 {
                throw AWSError(code: "InvalidRequest", message: "AllowedOrigin \"\(o)\" can not have more than one wildcard.")
            }
        }
    }
}

extension CORS {
    struct Rule {
        var origins: [String]
        var methods: [String]
        var headers: [String]
        var expose: [String]
        var maxAge: Int?

        init(_ v: ShapeValue) {
            func strings(_ m: String) -> [String] { (v[m]?.list ?? []).compactMap(\.string) }
            origins = strings("AllowedOrigins")
            methods = strings("AllowedMethods")
            headers = strings("AllowedHeaders")
            expose = strings("ExposeHeaders")
            maxAge = v["MaxAgeSeconds"]?.int
        }

        func allows(origin: String, method: String, headers requested: [String]) -> Bool {
            origins.contains { Wildcard.matches($0, origin) } && methods.contains(method)
                && requested.allSatisfy { h in headers.contains { Wildcard.matches($0.lowercased(), h.lowercased()) } }
        }

        /// The headers S3 sends for a request this rule allows.
        func responseHeaders(origin: String, requestedHeaders: [String]) -> [(name: String, value: String)] {
            var out: [(name: String, value: String)] = []
            let any = origins.contains("*")
            out.append(("Access-Control-Allow-Origin", any ? "*" : origin))
            out.append(("Access-Control-Allow-Methods", methods.joined(separator: ", ")))
            if !requestedHeaders.isEmpty { out.append(("Access-Control-Allow-Headers", requestedHeaders.joined(separator: ", "))) }
            if !expose.isEmpty { out.append(("Access-Control-Expose-Headers", expose.joined(separator: ", "))) }
            if let maxAge { out.append(("Access-Control-Max-Age", String(maxAge))) }
            if !any { out.append(("Access-Control-Allow-Credentials", "true")) }
            out.append(("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"))
            return out
        }
    }

    static func rules(_ config: ShapeValue?) -> [Rule] { (config?["CORSRules"]?.list ?? []).map(Rule.init) }

    /// The bucket a request's path addresses (the edge puts a virtual-hosted bucket first).
    static func bucket(_ request: ProtocolRequest) -> String? {
        let first = request.path.split(separator: "/", omittingEmptySubsequences: true).first
        return first.map { FormEncoding.unescape($0, plus: false) }
    }
}

extension S3Provider {
    /// CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`, answered by the bucket's rules.
    public func answerUnmodeled(_ request: ProtocolRequest, context: RequestContext) async throws -> ProtocolResponse? {
        guard request.method == "OPTIONS" else { return nil }
        guard let origin = request.header("Origin"), let method = request.header("Access-Control-Request-Method") else {
            throw AWSError(code: "BadRequest", message: "Insufficient information. Origin request header needed.")
        }
        guard let bucket = CORS.bucket(request), try await s3.store.read({ db in try BucketRecord.fetchOne(db, key: bucket) }) != nil else {
            throw AWSError.noSuchBucket(CORS.bucket(request) ?? "")
        }
        guard let config = try await s3.bucketConfig(bucket, .cors) else {
            throw AWSError(code: "AccessForbidden", message: "CORSResponse: CORS is not enabled for this bucket.", status: 403,
                           fields: [.init("Method", method), .init("ResourceType", "BUCKET")])
        }
        let requested = (request.header("Access-Control-Request-Headers") ?? "").split(separator: ",")
            .map { String($0).filter { $0 != " " } }.filter { !$0.isEmpty }
        guard let rule = CORS.rules(config).first(where: { $0.allows(origin: origin, method: method, headers: requested) }) else {
            throw AWSError(
                code: "AccessForbidden",
                message: "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
                status: 403, fields: [.init("Method", method), .init("ResourceType", "OBJECT")])
        }
        return ProtocolResponse(status: 200, headers: rule.responseHeaders(origin: origin, requestedHeaders: requested) + [("Content-Length", "0")])
    }

    public func crossOriginHeaders(_ request: ProtocolRequest) async -> [(name: String, value: String)] {
        guard let origin = request.header("Origin"), let bucket = CORS.bucket(request),
            let config = try? await s3.bucketConfig(bucket, .cors),
            let rule = CORS.rules(config).first(where: { $0.allows(origin: origin, method: request.method == "HEAD" ? "HEAD" : request.method, headers: []) })
        else { return [] }
        return rule.responseHeaders(origin: origin, requestedHeaders: []).filter { $0.name != "Access-Control-Allow-Headers" }
    }
}
