#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KumoCore

/// The `rest-xml` and `rest-json` protocols: the operation is found by method
/// and URI template; members live in the URI, query string, headers, status
/// code or body as the model's `location` says.
struct RestProtocol: WireProtocol {
    enum BodyFormat: Sendable { case xml, json }
    let format: BodyFormat
    var name: WireProtocolName { format == .xml ? .restXML : .restJSON }

    func operationName(for request: ProtocolRequest, model: ServiceModel) throws(AWSError) -> String? {
        if let matched = request.matchedRoute { return matched.operation }
        return model.matchRoute(method: request.method, path: request.path, query: request.query, headers: request.headers)?.operation
    }

    // MARK: input

    func parseInput(_ request: ProtocolRequest, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let inputRef = operation.input else { return .empty }
        let plan = model.restInputPlan(operation, input: inputRef)
        let shape = plan.shape
        var out: [String: ShapeValue] = [:]
        if !plan.uri.isEmpty {
            let labels =
                request.matchedRoute.flatMap { $0.operation == operation.name ? $0.labels : nil }
                ?? model.route(for: operation.name)?.match(method: request.method, path: RestRoute.split(request.path), query: request.query)
                ?? [:]
            for b in plan.uri {
                if let v = labels[b.wireName] {
                    out[b.member] = try ScalarText.parse(v, shape: b.target, timestampFormat: tsFormat(b.ref, model, .iso8601), where: b.member)
                }
            }
        }
        for b in plan.query {
            if let v = try queryValue(request, name: b.wireName, ref: b.ref, target: b.target, model: model, bound: plan.boundQueryNames) {
                out[b.member] = v
            }
        }
        // One pass over the request's headers: each is looked up among the bound ones; repeated
        // headers are joined with commas, in order, as HTTP allows.
        var headerValues: [String: (binding: RestInputPlan.Binding, value: String)] = [:]
        var prefixed: [String: [String: ShapeValue]] = [:]
        for h in request.headers {
            let lower = h.name.asciiLowercased
            if let b = plan.headers[lower] {
                if let seen = headerValues[b.member] {
                    headerValues[b.member] = (b, seen.value + "," + h.value)
                } else {
                    headerValues[b.member] = (b, h.value)
                }
            }
            for (prefix, member) in plan.prefixHeaders where lower.hasPrefix(prefix) {
                prefixed[member, default: [:]][String(lower.dropFirst(prefix.count))] = .string(h.value)
            }
        }
        for (member, found) in headerValues {
            out[member] = try headerValue(found.value, name: found.binding.wireName, ref: found.binding.ref, target: found.binding.target, model: model)
        }
        for (member, map) in prefixed { out[member] = .map(map) }
        if let payloadName = shape.payload, let payloadRef = shape.member(named: payloadName) {
            let target = model.shape(payloadRef)
            switch target.type {
            case .structure, .union:
                if !isBlank(request.body) {
                    out[payloadName] = try decodeBody(request.body, shape: target, model: model, isPayload: true)
                }
            case .document:
                if !isBlank(request.body) {
                    guard let j = try? JSONValue.parse(request.body) else { throw AWSError.serialization("The request body is not JSON") }
                    out[payloadName] = .document(j)
                }
            case .blob:
                if let stream = request.bodyStream {
                    out[payloadName] = .stream(stream)
                } else if payloadRef.streaming || target.streaming {
                    out[payloadName] = .stream(ByteStream(bytes: request.body))
                } else if !request.body.isEmpty {
                    out[payloadName] = .blob(request.body)
                }
            case .string:
                if !request.body.isEmpty { out[payloadName] = .string(String(decoding: request.body, as: UTF8.self)) }
            default:
                if !request.body.isEmpty {
                    out[payloadName] = try ScalarText.parse(
                        String(decoding: request.body, as: UTF8.self), shape: target, timestampFormat: .iso8601, where: payloadName)
                }
            }
        } else if plan.hasBodyMembers, !isBlank(request.body) {
            if case .structure(let body) = try decodeBody(request.body, shape: shape, model: model, isPayload: false) {
                out.merge(body) { a, _ in a }
            }
        }
        return .structure(out)
    }

    func isBlank(_ body: [UInt8]) -> Bool { body.allSatisfy { $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 } }

    func tsFormat(_ ref: MemberRef, _ model: ServiceModel, _ fallback: TimestampFormat) -> TimestampFormat {
        TimestampFormat(model: ref.timestampFormat ?? model.shape(ref).timestampFormat) ?? fallback
    }

    func queryValue(
        _ request: ProtocolRequest, name: String, ref: MemberRef, target: Shape, model: ServiceModel, bound: Set<String>
    ) throws(AWSError) -> ShapeValue? {
        switch target.type {
        case .map:
            guard let valueRef = target.value else { return nil }
            let valueShape = model.shape(valueRef)
            var map: [String: ShapeValue] = [:]
            // Smithy's httpQueryParams: the parameters not bound to other members.
            for q in request.query where !bound.contains(q.name) {
                if valueShape.type == .list {
                    var items = map[q.name]?.list ?? []
                    items.append(.string(q.value))
                    map[q.name] = .list(items)
                } else if map[q.name] == nil {
                    map[q.name] = .string(q.value)
                }
            }
            return map.isEmpty ? nil : .map(map)
        case .list:
            guard let member = target.member else { return nil }
            let values = request.query.filter { $0.name == name }
            guard !values.isEmpty else { return nil }
            return .list(
                try values.map { v throws(AWSError) in
                    try ScalarText.parse(v.value, shape: model.shape(member), timestampFormat: tsFormat(member, model, .iso8601), where: name)
                })
        default:
            guard let v = request.queryValue(name) else { return nil }
            return try ScalarText.parse(v, shape: target, timestampFormat: tsFormat(ref, model, .iso8601), where: name)
        }
    }

    /// A header member's value from the header's text (repeated headers joined with commas).
    func headerValue(_ joined: String, name: String, ref: MemberRef, target: Shape, model: ServiceModel)
        throws(AWSError) -> ShapeValue
    {
        if ref.jsonValue {
            guard let data = Data(base64Encoded: joined), let json = try? JSONValue.parse(Array(data)) else {
                throw AWSError.serialization("Header \(name) is not base64-encoded JSON")
            }
            return .document(json)
        }
        if target.type == .list, let member = target.member {
            let memberShape = model.shape(member)
            let items =
                memberShape.type == .timestamp && tsFormat(member, model, .rfc822) == .rfc822
                ? Self.splitHTTPDates(joined) : Self.splitHeaderList(joined)
            return .list(
                try items.map { v throws(AWSError) in
                    try ScalarText.parse(v, shape: memberShape, timestampFormat: tsFormat(member, model, .rfc822), where: name)
                })
        }
        let text = target.type == .string ? joined : joined.trimmingSpaces
        return try ScalarText.parse(text, shape: target, timestampFormat: tsFormat(ref, model, .rfc822), where: name)
    }

    /// Splits a comma-separated header, honouring double-quoted items.
    static func splitHeaderList(_ value: String) -> [String] {
        var items: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        var wasQuoted = false
        for c in value {
            if escaped { current.append(c); escaped = false; continue }
            if quoted && c == "\\" { escaped = true; continue }
            if c == "\"" {
                if !quoted && !wasQuoted { current = "" }
                quoted.toggle()
                wasQuoted = true
                continue
            }
            if c == "," && !quoted {
                items.append(wasQuoted ? current : current.trimmingSpaces)
                current = ""
                wasQuoted = false
                continue
            }
            if !quoted && wasQuoted && c == " " { continue }
            current.append(c)
        }
        items.append(wasQuoted ? current : current.trimmingSpaces)
        return items
    }

    /// HTTP dates contain a comma themselves: `Mon, 16 Dec 2019 23:48:18 GMT, Mon, ...`.
    static func splitHTTPDates(_ value: String) -> [String] {
        let parts = value.split(separator: ",").map { String($0).trimmingSpaces }
        var out: [String] = []
        var i = 0
        while i < parts.count {
            if i + 1 < parts.count, parts[i].count == 3 { out.append(parts[i] + ", " + parts[i + 1]); i += 2 } else {
                out.append(parts[i])
                i += 1
            }
        }
        return out
    }

    func decodeBody(_ body: [UInt8], shape: Shape, model: ServiceModel, isPayload: Bool) throws(AWSError) -> ShapeValue {
        switch format {
        case .xml:
            let root: XMLElement
            do { root = try XMLElement.parse(body) } catch {
                throw AWSError(
                    code: "MalformedXML",
                    message: "The XML you provided was not well-formed or did not validate against our published schema")
            }
            return try XMLShapeCodec(model: model, flattenedListsUseMemberName: false).decodeStructure(root, shape: shape)
        case .json:
            let json: JSONValue
            do { json = try JSONValue.parse(body) } catch {
                throw AWSError.serialization("Could not parse the request body as JSON: \(error.message)")
            }
            return try JSONShapeCodec(model: model).decodeStructure(json, shape: shape)
        }
    }

    // MARK: output

    func xmlNamespace(_ shape: Shape, operation: ServiceModel.Operation, model: ServiceModel) -> String? {
        if let ns = shape.xmlNamespace?.uri ?? model.metadata.xmlNamespace { return ns }
        if let input = operation.input {
            if let ns = input.xmlNamespace?.uri { return ns }
            let inShape = model.shape(input)
            if let p = inShape.payload, let ns = inShape.member(named: p)?.xmlNamespace?.uri { return ns }
        }
        return nil
    }

    func serializeOutput(
        _ output: ShapeValue, operation: ServiceModel.Operation, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        var response = ProtocolResponse(status: operation.responseCode)
        guard let outRef = operation.output else { return response }
        let shape = model.shape(outRef)
        let members = output.members ?? [:]
        // The members present, in model order (an output has a few of its shape's many members).
        let positions = model.memberPositions(shape)
        var present: [(position: Int, value: ShapeValue)] = []
        present.reserveCapacity(members.count)
        for (name, v) in members { if let i = positions[name] { present.append((i, v)) } }
        present.sort { $0.position < $1.position }
        for (position, v) in present {
            let (name, ref) = shape.members[position]
            switch ref.location {
            case "statusCode":
                if let code = v.int { response.status = code }
            case "header":
                let text: String
                if ref.jsonValue, case .document(let j) = v {
                    text = Data(j.serialized().utf8).base64EncodedString()
                } else if case .list(let items) = v {
                    let member = model.shape(outRef).member(named: name).map { model.shape($0).member } ?? nil
                    text = items.map { item in
                        let s = ScalarText.format(item, timestampFormat: member.map { tsFormat($0, model, .rfc822) } ?? .rfc822)
                        return s.contains(",") || s.contains("\"") ? "\"" + s.replacing("\"", with: "\\\"") + "\"" : s
                    }.joined(separator: ", ")
                } else {
                    text = ScalarText.format(v, timestampFormat: tsFormat(ref, model, .rfc822))
                }
                response.headers.append((ref.locationName ?? name, text))
            case "headers":
                for (k, hv) in (v.members ?? [:]).sorted(by: { $0.key < $1.key }) {
                    response.headers.append(((ref.locationName ?? "") + k, hv.string ?? ""))
                }
            default:
                break
            }
        }
        // HTTP: a response carrying part of a resource is a 206 (S3 ranged GET/HEAD).
        if response.status == 200, response.header("Content-Range") != nil { response.status = 206 }
        if let payloadName = shape.payload, let payloadRef = shape.member(named: payloadName) {
            let target = model.shape(payloadRef)
            guard let v = members[payloadName] else { return response }
            switch (target.type, v) {
            case (.structure, _), (.union, _):
                switch format {
                case .xml:
                    let element = XMLShapeCodec(model: model, flattenedListsUseMemberName: false).encode(v, ref: payloadRef, name: payloadRef.locationName ?? target.locationName ?? target.name)
                    response.body = element.serializedBytes()
                    response.headers.append(("Content-Type", "application/xml"))
                case .json:
                    response.body = Array(JSONShapeCodec(model: model).encode(v, ref: payloadRef).serialized().utf8)
                    response.headers.append(("Content-Type", "application/json"))
                }
            case (.document, .document(let j)):
                response.body = Array(j.serialized().utf8)
                response.headers.append(("Content-Type", "application/json"))
            case (_, .stream(let stream)):
                response.bodyStream = stream
                if !response.headers.contains(where: { $0.name.caseInsensitiveEquals("Content-Type") }) {
                    response.headers.append(("Content-Type", "application/octet-stream"))
                }
            case (_, .blob(let b)):
                response.body = b
                if !response.headers.contains(where: { $0.name.caseInsensitiveEquals("Content-Type") }) {
                    response.headers.append(("Content-Type", "application/octet-stream"))
                }
            case (_, .string(let s)):
                response.body = Array(s.utf8)
                if !response.headers.contains(where: { $0.name.caseInsensitiveEquals("Content-Type") }) {
                    response.headers.append(("Content-Type", "text/plain"))
                }
            default:
                break
            }
            return response
        }
        guard shape.members.contains(where: { XMLShapeCodec.isBody($0.ref) }) else { return response }
        switch format {
        case .xml:
            var root = XMLElement(name: shape.locationName ?? operation.name + "Result")
            if let ns = xmlNamespace(shape, operation: operation, model: model) { root.attributes.append(("xmlns", ns)) }
            XMLShapeCodec(model: model, flattenedListsUseMemberName: false).encodeStructure(output, shape: shape, into: &root)
            response.body = root.serializedBytes()
            response.headers.append(("Content-Type", "application/xml"))
        case .json:
            response.body = Array(JSONShapeCodec(model: model).encodeStructure(output, shape: shape).serialized().utf8)
            response.headers.append(("Content-Type", "application/json"))
        }
        return response
    }

    func serializeError(
        _ error: AWSError, operation: ServiceModel.Operation?, model: ServiceModel, requestId: String
    ) -> ProtocolResponse {
        var headers = error.headers.map { (name: $0.name, value: $0.value) }
        switch format {
        case .xml:
            let detail =
                [XMLElement(name: "Code", text: error.code), XMLElement(name: "Message", text: error.message)]
                + error.fields.map { XMLElement(name: $0.name, text: $0.value) }
            let root: XMLElement
            if model.metadata.signingName == "s3" {
                root = XMLElement(
                    name: "Error", children: detail + [XMLElement(name: "RequestId", text: requestId)])
            } else {
                var attrs: [(name: String, value: String)] = []
                if let ns = model.metadata.xmlNamespace ?? operation.flatMap({ $0.input?.xmlNamespace?.uri }) {
                    attrs.append(("xmlns", ns))
                }
                root = XMLElement(
                    name: "ErrorResponse", attributes: attrs,
                    children: [
                        XMLElement(
                            name: "Error",
                            children: [XMLElement(name: "Type", text: error.isSenderFault ? "Sender" : "Receiver")] + detail),
                        XMLElement(name: "RequestId", text: requestId),
                    ])
            }
            headers.append(("Content-Type", "application/xml"))
            return ProtocolResponse(status: error.status, headers: headers, body: root.serializedBytes())
        case .json:
            headers.append(("x-amzn-ErrorType", error.code))
            headers.append(("Content-Type", "application/json"))
            let body = JSONValue.object(
                [("__type", .string(error.code)), ("message", .string(error.message))]
                    + error.fields.map { ($0.name, .string($0.value)) })
            return ProtocolResponse(status: error.status, headers: headers, body: Array(body.serialized().utf8))
        }
    }

    // MARK: client side

    func parseOutput(_ response: ProtocolResponse, operation: ServiceModel.Operation, model: ServiceModel) throws(AWSError)
        -> ShapeValue
    {
        guard let outRef = operation.output else { return .empty }
        let shape = model.shape(outRef)
        var out: [String: ShapeValue] = [:]
        for (name, ref) in shape.members {
            let target = model.shape(ref)
            switch ref.location {
            case "statusCode": out[name] = .integer(Int64(response.status))
            case "header":
                let wireName = ref.locationName ?? name
                let values = response.headers.filter { $0.name.caseInsensitiveEquals(wireName) }.map(\.value)
                if !values.isEmpty {
                    out[name] = try headerValue(values.joined(separator: ","), name: wireName, ref: ref, target: target, model: model)
                }
            case "headers":
                let prefix = (ref.locationName ?? "").lowercased()
                var map: [String: ShapeValue] = [:]
                for h in response.headers where h.name.lowercased().hasPrefix(prefix) {
                    map[String(h.name.dropFirst(prefix.count))] = .string(h.value)
                }
                if !map.isEmpty { out[name] = .map(map) }
            default: break
            }
        }
        if let payloadName = shape.payload, let payloadRef = shape.member(named: payloadName) {
            let target = model.shape(payloadRef)
            switch target.type {
            case .structure, .union:
                if !isBlank(response.body) {
                    out[payloadName] = try decodeBody(response.body, shape: target, model: model, isPayload: true)
                }
            case .document:
                if !isBlank(response.body), let j = try? JSONValue.parse(response.body) { out[payloadName] = .document(j) }
            case .blob: if !response.body.isEmpty { out[payloadName] = .blob(response.body) }
            case .string: if !response.body.isEmpty { out[payloadName] = .string(String(decoding: response.body, as: UTF8.self)) }
            default: break
            }
        } else if !isBlank(response.body), case .structure(let body) = try decodeBody(response.body, shape: shape, model: model, isPayload: false) {
            out.merge(body) { a, _ in a }
        }
        return .structure(out)
    }
}
