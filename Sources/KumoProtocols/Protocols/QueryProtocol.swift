import KumoCore

/// The `query` and `ec2` protocols: form-encoded input named by `Action`, XML output.
struct QueryProtocol: WireProtocol {
    let isEC2: Bool
    var name: WireProtocolName { isEC2 ? .ec2 : .query }

    func params(_ request: ProtocolRequest) -> [String: String] {
        var params: [String: String] = [:]
        for q in request.query { params[q.name] = q.value }
        if !request.body.isEmpty {
            for (k, v) in FormEncoding.decode(Substring(decoding: request.body, as: UTF8.self)) { params[k] = v }
        }
        return params
    }

    func operationName(for request: ProtocolRequest, model: ServiceModel) throws(AWSError) -> String? {
        // As `params` would have it (the body wins over the query), without decoding every parameter.
        if !request.body.isEmpty {
            let body = Substring(decoding: request.body, as: UTF8.self)
            if let action = body.asciiSplit(UInt8(ascii: "&")).last(where: { $0.utf8HasPrefix("Action=") }) {
                return FormEncoding.unescape(action.dropFirst(7), plus: true)
            }
        }
        return request.query.last { $0.name == "Action" }?.value
    }

    func parseInput(_ request: ProtocolRequest, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let input = operation.input else { return .empty }
        let decoder = QueryShapeDecoder(model: model, isEC2: isEC2, params: params(request))
        return try decoder.decodeStructure(model.shape(input), prefix: "")
    }

    func namespace(_ model: ServiceModel) -> String {
        model.metadata.xmlNamespace ?? "https://\(model.metadata.endpointPrefix).amazonaws.com/doc/\(model.metadata.apiVersion)/"
    }

    func serializeOutput(
        _ output: ShapeValue, operation: ServiceModel.Operation, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        let codec = XMLShapeCodec(model: model)
        var root = XMLElement(name: operation.name + "Response", attributes: [("xmlns", namespace(model))])
        if isEC2 {
            root.children.append(XMLElement(name: "requestId", text: requestId))
            if let out = operation.output { codec.encodeStructure(output, shape: model.shape(out), into: &root) }
        } else {
            if let out = operation.output {
                var result = XMLElement(name: out.resultWrapper ?? operation.name + "Result")
                codec.encodeStructure(output, shape: model.shape(out), into: &result)
                root.children.append(result)
            }
            root.children.append(
                XMLElement(name: "ResponseMetadata", children: [XMLElement(name: "RequestId", text: requestId)]))
        }
        return ProtocolResponse(
            status: 200, headers: [("Content-Type", "text/xml")], body: root.serializedBytes())
    }

    func serializeError(
        _ error: AWSError, operation: ServiceModel.Operation?, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        let code = model.queryErrorCode(error)
        var detail = [XMLElement(name: "Code", text: code), XMLElement(name: "Message", text: error.message)]
        detail += error.fields.map { XMLElement(name: $0.name, text: $0.value) }
        let root: XMLElement
        if isEC2 {
            root = XMLElement(
                name: "Response",
                children: [
                    XMLElement(name: "Errors", children: [XMLElement(name: "Error", children: detail)]),
                    XMLElement(name: "RequestID", text: requestId),
                ])
        } else {
            let type = XMLElement(name: "Type", text: error.isSenderFault ? "Sender" : "Receiver")
            root = XMLElement(
                name: "ErrorResponse", attributes: [("xmlns", namespace(model))],
                children: [
                    XMLElement(name: "Error", children: [type] + detail),
                    XMLElement(name: "RequestId", text: requestId),
                ])
        }
        return ProtocolResponse(
            status: error.status, headers: [("Content-Type", "text/xml")] + error.headers.map { ($0.name, $0.value) },
            body: root.serializedBytes())
    }

    func parseOutput(_ response: ProtocolResponse, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let out = operation.output else { return .empty }
        let root: XMLElement
        do { root = try XMLElement.parse(response.body) } catch { throw AWSError.malformedInput(error.message) }
        let codec = XMLShapeCodec(model: model)
        if isEC2 { return try codec.decodeStructure(root, shape: model.shape(out)) }
        let result = root.child(out.resultWrapper ?? operation.name + "Result") ?? root
        return try codec.decodeStructure(result, shape: model.shape(out))
    }
}
