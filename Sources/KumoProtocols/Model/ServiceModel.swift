import Synchronization

/// A service's API as published in botocore's `service-2.json`.
///
/// Everything the wire protocols do — where a member lives, what it is called
/// on the wire, how it is encoded — comes from here.
public final class ServiceModel: Sendable {
    public let metadata: Metadata
    public let operations: [String: Operation]
    public let shapes: [String: Shape]
    let restRoutes: [RestRoute]
    /// The routes of each method, most specific first (ties in operation-name order): the first
    /// that matches a request is the one it addresses.
    let restRoutesByMethod: [String: [RestRoute]]
    /// Operations whose input payload is a streaming blob (S3 PutObject, UploadPart).
    let streamingInputOperations: Set<String>
    /// Rest input plans, made on an operation's first request.
    let restInputPlans = Mutex<[String: RestInputPlan]>([:])
    /// Each output shape's member positions by name, made on first use (see `memberPositions`).
    let memberPositionsByShape = Mutex<[String: [String: Int]]>([:])

    public struct Metadata: Sendable {
        public var apiVersion: String
        public var serviceId: String
        /// The model's protocols, preferred first.
        public var protocols: [WireProtocolName]
        public var targetPrefix: String?
        public var jsonVersion: String
        public var signingName: String
        public var endpointPrefix: String
        public var xmlNamespace: String?
        public var awsQueryCompatible: Bool
    }

    public struct Operation: Sendable {
        public var name: String
        public var method: String
        public var requestUri: String
        public var responseCode: Int
        public var input: MemberRef?
        public var output: MemberRef?
        public var errors: [String]
        /// Superseded operations (PutBucketLifecycle) lose to their successors on the same route.
        public var deprecated: Bool
    }

    public init(json: JSONValue) {
        let meta = json["metadata"] ?? .object([])
        let protocolNames = (meta["protocols"]?.array?.compactMap(\.string) ?? [meta["protocol"]?.string ?? "json"])
        metadata = Metadata(
            apiVersion: meta["apiVersion"]?.string ?? "",
            serviceId: meta["serviceId"]?.string ?? "",
            protocols: protocolNames.compactMap(WireProtocolName.init(rawValue:)),
            targetPrefix: meta["targetPrefix"]?.string,
            jsonVersion: meta["jsonVersion"]?.string ?? "1.0",
            signingName: meta["signingName"]?.string ?? meta["endpointPrefix"]?.string ?? "",
            endpointPrefix: meta["endpointPrefix"]?.string ?? "",
            xmlNamespace: meta["xmlNamespace"]?.string ?? meta["xmlNamespace"]?["uri"]?.string,
            awsQueryCompatible: meta["awsQueryCompatible"] != nil
        )
        var shapes: [String: Shape] = [:]
        for (name, body) in json["shapes"]?.object ?? [] { shapes[name] = Shape(name: name, json: body) }
        self.shapes = shapes
        var operations: [String: Operation] = [:]
        for (name, body) in json["operations"]?.object ?? [] {
            operations[name] = Operation(json: body, name: name)
        }
        self.operations = operations
        streamingInputOperations = Set(operations.values.filter { Self.streamsInput($0, shapes: shapes) }.map(\.name))
        restRoutes = operations.values.map { op in
            // Operations sharing a URI (PutObject/CopyObject) differ by a required header (x-amz-copy-source).
            // Likewise by a required query parameter (DeleteObject/AbortMultipartUpload: uploadId).
            var headers: [String] = []
            var query: [String] = []
            if let input = op.input, let shape = shapes[input.shape] {
                for (name, ref) in shape.members where shape.required.contains(name) {
                    if ref.location == "header" { headers.append(ref.locationName ?? name) }
                    if ref.location == "querystring" { query.append(ref.locationName ?? name) }
                }
            }
            return RestRoute(op, requiredHeaders: headers, requiredQuery: query, deprecated: op.deprecated)
        }.sorted { $0.operation < $1.operation }
        restRoutesByMethod = Dictionary(grouping: restRoutes, by: \.method).mapValues { routes in
            // A stable order: equal specificity keeps the operation-name order.
            routes.enumerated().sorted { a, b in
                a.element.specificity != b.element.specificity ? a.element.specificity > b.element.specificity : a.offset < b.offset
            }.map(\.element)
        }
    }

    /// Loads a model from its JSON text.
    public convenience init(bytes: [UInt8]) throws {
        self.init(json: try JSONValue.parse(bytes))
    }

    public func shape(_ name: String) -> Shape {
        if let s = shapes[name] { return s }
        return Shape(name: name, json: .object([("type", .string("string"))]))
    }

    public func shape(_ ref: MemberRef) -> Shape { shape(ref.shape) }

    /// Where each member of a structure shape sits in its model order, by name: a value's few
    /// members are put in that order without walking every member of the shape.
    func memberPositions(_ shape: Shape) -> [String: Int] {
        if let positions = memberPositionsByShape.withLock({ $0[shape.name] }) { return positions }
        var positions: [String: Int] = [:]
        for (i, member) in shape.members.enumerated() { positions[member.name] = i }
        memberPositionsByShape.withLock { $0[shape.name] = positions }
        return positions
    }

    /// The input plan of a rest operation (see `RestInputPlan`).
    func restInputPlan(_ operation: Operation, input: MemberRef) -> RestInputPlan {
        if let plan = restInputPlans.withLock({ $0[operation.name] }) { return plan }
        let plan = RestInputPlan(shape: shape(input), model: self)
        restInputPlans.withLock { $0[operation.name] = plan }
        return plan
    }
}

extension ServiceModel.Operation {
    init(json: JSONValue, name: String) {
        // The key of the operations map is the API name; CloudFront's inner "name" carries a version suffix.
        self.name = name
        method = json["http"]?["method"]?.string ?? "POST"
        requestUri = json["http"]?["requestUri"]?.string ?? "/"
        responseCode = json["http"]?["responseCode"]?.int ?? 200
        input = json["input"].map(MemberRef.init)
        output = json["output"].map(MemberRef.init)
        errors = (json["errors"]?.array ?? []).compactMap { $0["shape"]?.string }
        deprecated = json["deprecated"]?.bool ?? false
    }

    public init(name: String, input: String?, output: String?) {
        self.init(
            json: .object(
                [("name", .string(name))] + (input.map { [("input", .object([("shape", .string($0))]))] } ?? [])
                    + (output.map { [("output", .object([("shape", .string($0))]))] } ?? [])
            ),
            name: name
        )
    }
}

/// The wire protocols of AWS's models.
public enum WireProtocolName: String, Sendable, CaseIterable {
    case query
    case ec2
    case json
    case restJSON = "rest-json"
    case restXML = "rest-xml"
    case rpcV2CBOR = "smithy-rpc-v2-cbor"
}
