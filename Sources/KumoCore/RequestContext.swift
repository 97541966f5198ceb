/// Who is calling, where, and which request this is.
///
/// Built by the edge after authentication and handed to every operation, so
/// services partition their resources by `accountId` and `region` like AWS.
public struct RequestContext: Sendable {
    public var requestId: String
    public var accountId: String
    public var region: String
    /// The service's model name (`sqs`, `s3`, `cloudwatch`...).
    public var service: String
    public var operation: String
    /// The caller's identity, when the request was signed.
    public var identity: Identity?
    /// The caller's address as seen by the edge.
    public var sourceAddress: String?
    /// The edge's own base URL as the client addressed it (`http://localhost:4566`), for URLs in responses.
    public var endpoint: String
    /// The resource on whose behalf a service principal calls (`aws:SourceArn`): the
    /// distribution of a CloudFront origin request. Set only for service identities.
    public var sourceArn: String?
    /// Whether the request came over TLS (`aws:SecureTransport`).
    public var secureTransport = false

    public init(
        requestId: String = RequestID.make(), accountId: String, region: String, service: String, operation: String,
        identity: Identity? = nil, sourceAddress: String? = nil, endpoint: String = "http://localhost:4566"
    ) {
        self.requestId = requestId
        self.accountId = accountId
        self.region = region
        self.service = service
        self.operation = operation
        self.identity = identity
        self.sourceAddress = sourceAddress
        self.endpoint = endpoint
    }
}

/// The signed header in which Kumo's CloudFront tells an S3 origin that the viewer used HTTPS
/// (only a service identity's signed requests are believed).
public enum ViewerProtocol {
    public static let header = "x-kumo-viewer-protocol"
}
