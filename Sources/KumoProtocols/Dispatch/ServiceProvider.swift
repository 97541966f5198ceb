public import KumoCore

/// One call of an operation, as a service provider receives it.
public struct OperationCall: Sendable {
    public var context: RequestContext
    /// The parsed and validated input structure.
    public var input: ShapeValue
    /// The request as read from the wire, for the few operations that need headers beyond the model.
    public var request: ProtocolRequest

    public init(context: RequestContext, input: ShapeValue, request: ProtocolRequest) {
        self.context = context
        self.input = input
        self.request = request
    }
}

/// The code that runs one operation: it gets the parsed input and returns the
/// output structure (member names as in the model), or throws an `AWSError`.
public struct OperationHandler: Sendable {
    public let run: @Sendable (OperationCall) async throws -> ShapeValue

    public init(_ run: @escaping @Sendable (OperationCall) async throws -> ShapeValue) {
        self.run = run
    }
}

/// An AWS service: its operation table, keyed by the operation's wire name.
///
/// Operations in the service's model but not in the table answer `NotImplemented` (501).
public protocol ServiceProvider: Sendable {
    /// The model name (`sts`, `sqs`, `s3`, `cloudwatch`, ...).
    var service: String { get }
    var operations: [String: OperationHandler] { get }
    /// The code of model-validation errors when the protocol's default is not what the service sends.
    var validationErrorCode: String? { get }
    /// Whether the edge checks input against the model (required, enum, length, range) before
    /// the operation runs. S3 does not: it answers with its own errors (MalformedXML, InvalidArgument...).
    var validatesInput: Bool { get }
    /// Whether model validation checks enum values (see `Validator.checksEnums`).
    var validatesEnums: Bool { get }
    /// Fills input members a request carries outside the model's locations, before validation
    /// (query-protocol SQS clients name the queue by posting to its URL instead of `QueueUrl`).
    func completeInput(_ input: inout ShapeValue, request: ProtocolRequest, context: RequestContext)
    /// Deletes every resource of this service (for `kumo reset`).
    func reset() async throws
    /// Answers a request the model has no operation for but the service serves (S3's CORS
    /// preflight `OPTIONS`); nil when it has nothing to say. Throws AWSErrors like an operation.
    func answerUnmodeled(_ request: ProtocolRequest, context: RequestContext) async throws -> ProtocolResponse?
    /// Headers the service adds to responses of cross-origin requests (S3's CORS headers).
    func crossOriginHeaders(_ request: ProtocolRequest) async -> [(name: String, value: String)]
}

extension ServiceProvider {
    public var validationErrorCode: String? { nil }
    public var validatesInput: Bool { true }
    public var validatesEnums: Bool { true }
    public func completeInput(_ input: inout ShapeValue, request: ProtocolRequest, context: RequestContext) {}
    public func answerUnmodeled(_ request: ProtocolRequest, context: RequestContext) async throws -> ProtocolResponse? { nil }
    public func crossOriginHeaders(_ request: ProtocolRequest) async -> [(name: String, value: String)] { [] }
}

extension OperationHandler {
    /// An operation table from a service's methods: `table(sqs, ["CreateQueue": SQS.createQueue, ...])`.
    public static func table<Service: Sendable>(
        _ service: Service, _ methods: [String: @Sendable (Service) -> (OperationCall) async throws -> ShapeValue]
    ) -> [String: OperationHandler] {
        methods.mapValues { method in OperationHandler { call in try await method(service)(call) } }
    }
}
