/// A data plane the edge serves by host name rather than as an AWS API: S3
/// website endpoints (`<bucket>.s3-website.localhost`), later CloudFront
/// distributions. The edge asks each route whether it claims a request's host.
public struct HostRoute: Sendable {
    /// A request to a host route, read whole (these serve GET/HEAD traffic).
    public struct Request: Sendable {
        public var method: String
        /// The raw (percent-encoded) path.
        public var path: String
        public var query: [(name: String, value: String)]
        public var headers: [(name: String, value: String)]
        public var remoteAddress: String?
        /// What `claim` returned for the host (a bucket name, a distribution id).
        public var name: String
        /// The request body (host routes read at most 1 MiB).
        public var body: [UInt8]
        /// Whether the client connected with TLS (`https://`).
        public var secure = false
        /// The client's TCP port: with `remoteAddress`, which connection the request came on.
        public var remotePort: Int?

        public init(
            method: String, path: String, query: [(name: String, value: String)], headers: [(name: String, value: String)],
            remoteAddress: String?, name: String, body: [UInt8] = []
        ) {
            self.body = body
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.remoteAddress = remoteAddress
            self.name = name
        }

        /// A request from its method and request target (`/path?query`, the query decoded).
        public init(
            method: String, target: String, headers: [(name: String, value: String)], remoteAddress: String?, name: String, body: [UInt8] = []
        ) {
            let rawQuery = target.firstIndex(of: "?").map { String(target[target.index(after: $0)...]) } ?? ""
            self.init(
                method: method, path: String(target.prefix { $0 != "?" }),
                query: FormEncoding.decode(Substring(rawQuery)).map { (name: $0.0, value: $0.1) }, headers: headers,
                remoteAddress: remoteAddress, name: name, body: body)
        }

        /// The query as it is passed on: names and values escaped, joined by `&` (empty when none).
        public var queryString: String { query.map { FormEncoding.escape($0.name) + "=" + FormEncoding.escape($0.value) }.joined(separator: "&") }

        public func header(_ name: String) -> String? { headers.first { $0.name.caseInsensitiveEquals(name) }?.value }
    }

    public let label: String
    /// The name this route serves for a host (lower-cased, without port), or nil.
    public let claim: @Sendable (_ host: String, _ suffix: String) -> String?
    public let handle: @Sendable (Request) async -> ProtocolResponse

    /// Where a connection-upgrade request (a WebSocket) for this route goes, when it relays them.
    public let upgrade: (@Sendable (Request) async -> UpgradeTarget?)?

    /// An answer the route has at once, on the connection's event loop (a CloudFront cache hit);
    /// nil sends the request to `handle`. Asked only for requests without a body.
    public let quick: (@Sendable (Request) -> ProtocolResponse?)?

    /// Where the route sends a request as bytes, on the connection's event loop (a load
    /// balancer's forward rule, as on its listener ports); nil sends the request to `handle`.
    public let forward: (@Sendable (Request) -> (any ForwardExchange)?)?

    public init(
        label: String, claim: @escaping @Sendable (String, String) -> String?, handle: @escaping @Sendable (Request) async -> ProtocolResponse,
        upgrade: (@Sendable (Request) async -> UpgradeTarget?)? = nil, quick: (@Sendable (Request) -> ProtocolResponse?)? = nil,
        forward: (@Sendable (Request) -> (any ForwardExchange)?)? = nil
    ) {
        self.label = label
        self.claim = claim
        self.handle = handle
        self.upgrade = upgrade
        self.quick = quick
        self.forward = forward
    }
}

/// A data plane the edge serves under a path of its own (`/_kumo/imds/...`, the instance
/// metadata service), checked before Kumo's other endpoints; requests are not signed.
public struct PathRoute: Sendable {
    public let prefix: String
    public let handle: @Sendable (HostRoute.Request) async -> ProtocolResponse

    public init(prefix: String, handle: @escaping @Sendable (HostRoute.Request) async -> ProtocolResponse) {
        self.prefix = prefix
        self.handle = handle
    }
}
