public import KumoCore

/// The `json` protocol (1.0 and 1.1): `X-Amz-Target: Prefix.Operation`, JSON in and out.
struct JSONProtocol: WireProtocol {
    var name: WireProtocolName { .json }

    func operationName(for request: ProtocolRequest, model: ServiceModel) throws(AWSError) -> String? {
        guard let target = request.header("X-Amz-Target") else { return nil }
        guard let dot = target.lastIndex(of: ".") else {
            throw AWSError.unknownOperation("Operation \(target) is not a valid target.")
        }
        return String(target[target.index(after: dot)...])
    }

    func parseInput(_ request: ProtocolRequest, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let input = operation.input else { return .empty }
        let body = request.body.allSatisfy { $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 } ? Array("{}".utf8) : request.body
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch {
            throw AWSError.serialization("Could not parse the request body as JSON: \(error.message)")
        }
        return try JSONShapeCodec(model: model).decodeStructure(json, shape: model.shape(input))
    }

    func contentType(_ model: ServiceModel) -> String { "application/x-amz-json-\(model.metadata.jsonVersion)" }

    func serializeOutput(
        _ output: ShapeValue, operation: ServiceModel.Operation, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        var body = "{}"
        if let out = operation.output {
            body = JSONShapeCodec(model: model).encodeStructure(output, shape: model.shape(out)).serialized()
        }
        return ProtocolResponse(status: 200, headers: [("Content-Type", contentType(model))], body: Array(body.utf8))
    }

    func serializeError(
        _ error: AWSError, operation: ServiceModel.Operation?, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        var fields: [(String, JSONValue)] = [("__type", .string(error.code)), ("message", .string(error.message))]
        fields += error.fields.map { ($0.name, .string($0.value)) }
        var headers: [(name: String, value: String)] = [("Content-Type", contentType(model))]
        if model.metadata.awsQueryCompatible {
            headers.append(("x-amzn-query-error", model.queryErrorCode(error) + (error.isSenderFault ? ";Sender" : ";Receiver")))
        }
        headers += error.headers.map { ($0.name, $0.value) }
        return ProtocolResponse(status: error.status, headers: headers, body: Array(JSONValue.object(fields).serialized().utf8))
    }

    func parseOutput(_ response: ProtocolResponse, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let out = operation.output else { return .empty }
        let json: JSONValue
        do { json = try JSONValue.parse(response.body.isEmpty ? Array("{}".utf8) : response.body) } catch {
            throw AWSError.serialization(error.message)
        }
        return try JSONShapeCodec(model: model).decodeStructure(json, shape: model.shape(out))
    }
}
