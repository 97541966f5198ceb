public import KumoCore

/// One of AWS's wire protocols: how a request names its operation and carries
/// its input, and how output and errors are written back.
///
/// Everything is driven by the service model; nothing here knows a particular
/// operation. The `parseOutput` side exists so the protocol layer can be
/// checked by round trip against AWS's protocol test vectors.
public protocol WireProtocol: Sendable {
    var name: WireProtocolName { get }

    /// The operation a request asks for, or nil when the request does not look like this protocol.
    func operationName(for request: ProtocolRequest, model: ServiceModel) throws(AWSError) -> String?

    /// Reads the operation's input from the request.
    func parseInput(_ request: ProtocolRequest, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue

    func serializeOutput(
        _ output: ShapeValue, operation: ServiceModel.Operation, model: ServiceModel, requestId: String
    ) -> ProtocolResponse

    func serializeError(
        _ error: AWSError, operation: ServiceModel.Operation?, model: ServiceModel, requestId: String
    ) -> ProtocolResponse

    /// Reads an operation's output from a response, as a client would.
    func parseOutput(_ response: ProtocolResponse, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
}

public enum WireProtocols {
    public static func make(_ name: WireProtocolName) -> any WireProtocol {
        switch name {
        case .query: QueryProtocol(isEC2: false)
        case .ec2: QueryProtocol(isEC2: true)
        case .json: JSONProtocol()
        case .restXML: RestProtocol(format: .xml)
        case .restJSON: RestProtocol(format: .json)
        case .rpcV2CBOR: RPCv2CBORProtocol()
        }
    }
}

extension ServiceModel {
    /// The code a client expects for an error: an exception shape's `error.code`
    /// trait (query-era codes such as `AWS.SimpleQueueService.NonExistentQueue`) or the code itself.
    func queryErrorCode(_ error: AWSError) -> String {
        error.queryCode ?? shapes[error.code]?.errorCode ?? error.code
    }
}
