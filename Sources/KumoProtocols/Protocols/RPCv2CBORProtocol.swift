import KumoCore

/// Smithy's rpc-v2-cbor: `POST /service/<Service>/operation/<Op>` with a CBOR body.
struct RPCv2CBORProtocol: WireProtocol {
    var name: WireProtocolName { .rpcV2CBOR }

    func operationName(for request: ProtocolRequest, model: ServiceModel) throws(AWSError) -> String? {
        let parts = request.path.split(separator: "/")
        guard parts.count >= 4, parts[parts.count - 2] == "operation", parts[parts.count - 4] == "service" else { return nil }
        return String(parts[parts.count - 1])
    }

    func parseInput(_ request: ProtocolRequest, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let input = operation.input, !request.body.isEmpty else { return .empty }
        let cbor: CBORValue
        do { cbor = try CBORValue.decode(request.body) } catch {
            throw AWSError.serialization("Could not parse the request body as CBOR: \(error.message)")
        }
        return try CBORShapeCodec(model: model).decodeStructure(cbor, shape: model.shape(input))
    }

    static let headers: [(name: String, value: String)] = [("smithy-protocol", "rpc-v2-cbor"), ("Content-Type", "application/cbor")]

    func serializeOutput(
        _ output: ShapeValue, operation: ServiceModel.Operation, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        var body = CBORValue.map([])
        if let out = operation.output { body = CBORShapeCodec(model: model).encodeStructure(output, shape: model.shape(out)) }
        return ProtocolResponse(status: 200, headers: Self.headers, body: body.encoded())
    }

    func serializeError(
        _ error: AWSError, operation: ServiceModel.Operation?, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        var entries: [(CBORValue, CBORValue)] = [(.text("__type"), .text(error.code)), (.text("message"), .text(error.message))]
        entries += error.fields.map { (.text($0.name), .text($0.value)) }
        var headers = Self.headers
        if model.metadata.awsQueryCompatible {
            headers.append(("x-amzn-query-error", model.queryErrorCode(error) + (error.isSenderFault ? ";Sender" : ";Receiver")))
        }
        return ProtocolResponse(status: error.status, headers: headers + error.headers.map { ($0.name, $0.value) }, body: CBORValue.map(entries).encoded())
    }

    func parseOutput(_ response: ProtocolResponse, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let out = operation.output, !response.body.isEmpty else { return .empty }
        let cbor: CBORValue
        do { cbor = try CBORValue.decode(response.body) } catch { throw AWSError.serialization(error.message) }
        return try CBORShapeCodec(model: model).decodeStructure(cbor, shape: model.shape(out))
    }
}
