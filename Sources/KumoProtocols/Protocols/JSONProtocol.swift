import KumoCore
import NIOCore

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
            let shape = model.shape(out)
            if let (name, ref) = shape.members.first(where: { model.shape($0.1).isEventStream }), case .events(let source)? = output[name] {
                return eventStream(output, shape: shape, streamShape: model.shape(ref), source: source, model: model)
            }
            body = JSONShapeCodec(model: model).encodeStructure(output, shape: shape).serialized()
        }
        return ProtocolResponse(status: 200, headers: [("Content-Type", contentType(model))], body: Array(body.utf8))
    }

    /// An event stream response: an `initial-response` event with the other output members,
    /// then each event the source emits, framed as it comes.
    func eventStream(_ output: ShapeValue, shape: Shape, streamShape: Shape, source: EventSource, model: ServiceModel) -> ProtocolResponse {
        let codec = JSONShapeCodec(model: model)
        let initial = Array(codec.encodeStructure(output, shape: shape).serialized().utf8)
        let stream = ByteStream(length: nil) { sink in
            try await sink(ByteBuffer(bytes: EventStreamFrame.encode(
                headers: [(":message-type", "event"), (":event-type", "initial-response"), (":content-type", "application/json")], payload: initial)))
            try await source.run { event in
                guard let (type, value) = event.members?.first, let ref = streamShape.members.first(where: { $0.0 == type })?.1 else { return }
                let eventShape = model.shape(ref)
                let payload = Array(codec.encodeStructure(value, shape: eventShape).serialized().utf8)
                let headers: [(name: String, value: String)] = eventShape.isException
                    ? [(":message-type", "exception"), (":exception-type", type), (":content-type", "application/json")]
                    : [(":message-type", "event"), (":event-type", type), (":content-type", "application/json")]
                try await sink(ByteBuffer(bytes: EventStreamFrame.encode(headers: headers, payload: payload)))
            }
        }
        return ProtocolResponse(status: 200, headers: [("Content-Type", EventStreamFrame.contentType)], bodyStream: stream)
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
