/// An error that an AWS service returns to its caller.
///
/// Every protocol serializer knows how to render it (XML `<Error>`, JSON `__type`,
/// CBOR, query `ErrorResponse`), so operations only throw these. Anything else
/// thrown by an operation becomes `InternalFailure` (500) at the edge.
public struct AWSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error code clients match on (`NoSuchBucket`, `ValidationError`, ...).
    public var code: String
    public var message: String
    /// HTTP status code.
    public var status: Int
    /// `true` when the caller is at fault (4xx); rendered as `Sender`/`Client` vs `Receiver`/`Server`.
    public var isSenderFault: Bool
    /// Extra fields some services put beside Code and Message (S3's `BucketName`, `Key`, ...).
    public var fields: [Field]
    /// The legacy query-protocol code for services in awsQueryCompatible mode (SQS: `AWS.SimpleQueueService.NonExistentQueue`).
    public var queryCode: String?
    /// Extra response headers (S3's `x-amz-delete-marker` on 404s, ...).
    public var headers: [Field]

    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public init(
        code: String, message: String, status: Int = 400, isSenderFault: Bool? = nil,
        fields: [Field] = [], queryCode: String? = nil, headers: [Field] = []
    ) {
        self.code = code
        self.message = message
        self.status = status
        self.isSenderFault = isSenderFault ?? (status < 500)
        self.fields = fields
        self.queryCode = queryCode
        self.headers = headers
    }

    public var description: String { "\(code) (\(status)): \(message)" }
}

extension AWSError {
    public static func internalFailure(_ message: String = "We encountered an internal error. Please try again.") -> AWSError {
        AWSError(code: "InternalFailure", message: message, status: 500)
    }

    /// An operation that exists in the service's model but that Kumo does not implement yet.
    public static func notImplemented(service: String, operation: String) -> AWSError {
        AWSError(
            code: "NotImplemented",
            message: "The operation \(operation) of service \(service) is not implemented by Kumo yet.",
            status: 501
        )
    }

    public static func invalidAction(_ action: String, service: String) -> AWSError {
        AWSError(
            code: "InvalidAction",
            message: "The action \(action) is not valid for this web service (\(service)).",
            status: 400
        )
    }

    public static func unknownOperation(_ message: String) -> AWSError {
        AWSError(code: "UnknownOperationException", message: message, status: 400)
    }

    public static func serialization(_ message: String) -> AWSError {
        AWSError(code: "SerializationException", message: message, status: 400)
    }

    public static func malformedInput(_ message: String) -> AWSError {
        AWSError(code: "MalformedInput", message: message, status: 400)
    }

    public static func missingAuthenticationToken() -> AWSError {
        AWSError(code: "MissingAuthenticationToken", message: "Request is missing Authentication Token", status: 403)
    }

    public static func incompleteSignature(_ message: String) -> AWSError {
        AWSError(code: "IncompleteSignature", message: message, status: 400)
    }

    public static func invalidClientTokenId() -> AWSError {
        AWSError(
            code: "InvalidClientTokenId", message: "The security token included in the request is invalid.", status: 403
        )
    }

    public static func signatureDoesNotMatch() -> AWSError {
        AWSError(
            code: "SignatureDoesNotMatch",
            message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            status: 403
        )
    }

    public static func requestTimeTooSkewed(_ message: String) -> AWSError {
        AWSError(code: "RequestTimeTooSkewed", message: message, status: 403)
    }

    public static func expiredToken() -> AWSError {
        AWSError(code: "ExpiredToken", message: "The security token included in the request is expired", status: 403)
    }

    public static func requestExpired(_ message: String) -> AWSError {
        AWSError(code: "AccessDenied", message: message, status: 403)
    }
}
