public import KumoCore
public import KumoProtocols
public import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A request as the edge receives it, already read off the connection.
public struct EdgeRequest: Sendable {
    public var method: String
    /// Path and query exactly as on the request line.
    public var target: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The unread body, for operations that stream their input (see `Edge.streamsBody`).
    public var bodyStream: ByteStream?
    public var remoteAddress: String?
    /// Whether the client connected with TLS (`https://`).
    public var secure = false

    public init(
        method: String, target: String, headers: [(name: String, value: String)], body: [UInt8] = [],
        bodyStream: ByteStream? = nil, remoteAddress: String? = nil
    ) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.bodyStream = bodyStream
        self.remoteAddress = remoteAddress
    }

    func header(_ name: String) -> String? { headers.first { $0.name.caseInsensitiveEquals(name) }?.value }

    var rawPath: String { String(target.prefix { $0 != "?" }) }
    var rawQuery: String {
        guard let q = target.firstIndex(of: "?") else { return "" }
        return String(target[target.index(after: q)...])
    }
}

/// What the edge answers, with the service and operation it resolved (for metrics and logs).
public struct EdgeResponse: Sendable {
    public var response: ProtocolResponse
    public var service: String
    public var operation: String
}

/// The AWS edge: resolves the service, protocol and operation of a request,
/// authenticates it, parses and validates its input, runs the operation and
/// serializes the result — one mechanism for every service.
public final class Edge: Sendable {
    public let configuration: EdgeConfiguration
    public let registry: ServiceRegistry
    let credentials: any CredentialProvider
    let clock: KumoClock
    let logger: Logger
    /// Data planes served by host name (S3 websites), checked before the AWS APIs.
    let hostRoutes: [HostRoute]
    /// Data planes under a path of their own (the instance metadata service).
    let pathRoutes: [PathRoute]
    let signingKeys = SigningKeyCache()

    public init(
        configuration: EdgeConfiguration, registry: ServiceRegistry, credentials: any CredentialProvider,
        clock: KumoClock, logger: Logger, hostRoutes: [HostRoute] = [], pathRoutes: [PathRoute] = []
    ) {
        self.pathRoutes = pathRoutes
        self.configuration = configuration
        self.registry = registry
        self.credentials = credentials
        self.clock = clock
        self.logger = logger
        self.hostRoutes = hostRoutes
    }

    /// The host route that claims a request's host, with the name it serves; or a path route
    /// (as a host route named by the path) for Kumo's own path-served data planes.
    public func hostRoute(_ request: EdgeRequest) -> (HostRoute, String)? {
        if request.target.hasPrefix("/_kumo/"), let p = pathRoutes.first(where: { request.target.hasPrefix($0.prefix) }) {
            return (HostRoute(label: "path", claim: { _, _ in nil }, handle: p.handle), p.prefix)
        }
        guard !hostRoutes.isEmpty else { return nil }
        let host = hostName(request)
        for route in hostRoutes {
            if let name = route.claim(host, configuration.hostSuffix) { return (route, name) }
        }
        return nil
    }

    struct Resolved {
        var service: String
        var model: ServiceModel
        var wire: any WireProtocol
        var request: ProtocolRequest
    }

    public func handle(_ edgeRequest: EdgeRequest, preamble: Preamble? = nil) async -> EdgeResponse {
        var edgeRequest = edgeRequest
        let requestId = RequestID.make()
        let preamble = preamble ?? self.preamble(edgeRequest)
        let query = preamble.query
        let claim: SigV4.Claim?
        do {
            claim = try preamble.claim.get()
        } catch {
            claim = nil
            return genericError(error, requestId: requestId, service: resolveService(edgeRequest, query: query, claim: nil)?.service)
        }
        guard let (service, bucket) = resolveService(edgeRequest, query: query, claim: claim) else {
            return genericError(
                AWSError(code: "UnknownService", message: "Kumo could not tell which AWS service this request is for.", status: 400),
                requestId: requestId, service: nil)
        }
        let model: ServiceModel
        do { model = try registry.model(service) } catch {
            return genericError(AWSError.internalFailure("The model of \(service) could not be loaded."), requestId: requestId, service: service)
        }
        var path = edgeRequest.rawPath
        if let bucket { path = "/" + bucket + (path == "/" ? "" : path) }
        var request = ProtocolRequest(
            method: edgeRequest.method, path: path, query: query, headers: edgeRequest.headers, body: edgeRequest.body)
        request.matchedRoute = preamble.matchedRoute
        let wire = WireProtocols.make(detectProtocol(model: model, request: request))
        if request.matchedRoute == nil, wire.name == .restXML || wire.name == .restJSON {
            request.matchedRoute = model.matchRoute(method: request.method, path: request.path, query: query, headers: request.headers)
        }
        var operationName = "-"
        var operation: ServiceModel.Operation?
        do {
            let provider = registry.provider(service)
            if request.method == "OPTIONS", let provider {
                let context = RequestContext(
                    requestId: requestId, accountId: configuration.accountId, region: configuration.region, service: service,
                    operation: "OPTIONS", sourceAddress: edgeRequest.remoteAddress, endpoint: endpoint(edgeRequest))
                if var response = try await provider.answerUnmodeled(request, context: context) {
                    addRequestIdHeaders(&response, service: service, requestId: requestId)
                    return EdgeResponse(response: response, service: service, operation: "OPTIONS")
                }
            }
            let identity = try await authenticate(&edgeRequest, claim: claim, service: service, model: model)
            request.bodyStream = edgeRequest.bodyStream
            guard let name = try wire.operationName(for: request, model: model), let op = model.operations[name] else {
                throw unknownOperation(wire.name, request: request, service: service)
            }
            operationName = name
            operation = op
            var context = RequestContext(
                requestId: requestId, accountId: identity.accountId, region: claim?.region ?? configuration.region,
                service: service, operation: name, identity: identity.identity, sourceAddress: edgeRequest.remoteAddress,
                endpoint: endpoint(edgeRequest))
            if claim == nil { context.region = configuration.region }
            context.secureTransport = edgeRequest.secure
            if identity.identity?.kind == .service, claim?.signedHeaders.contains("x-amz-source-arn") == true {
                context.sourceArn = edgeRequest.header("x-amz-source-arn")
                // A CloudFront origin request: the viewer's protocol, as CloudFront would have used it.
                if claim?.signedHeaders.contains(ViewerProtocol.header) == true, edgeRequest.header(ViewerProtocol.header) == "https" {
                    context.secureTransport = true
                }
            }
            var input = try wire.parseInput(request, operation: op, model: model)
            provider?.completeInput(&input, request: request, context: context)
            if let inputRef = op.input, provider?.validatesInput ?? true {
                let violations = Validator(model: model, checksEnums: provider?.validatesEnums ?? true).violations(input, shape: model.shape(inputRef))
                if !violations.isEmpty {
                    throw Validator.error(violations, protocol: wire.name, code: provider?.validationErrorCode)
                }
            }
            guard let handler = provider?.operations[name] else {
                throw AWSError.notImplemented(service: service, operation: name)
            }
            let output = try await handler.run(OperationCall(context: context, input: input, request: request))
            var response = wire.serializeOutput(output, operation: op, model: model, requestId: requestId)
            addRequestIdHeaders(&response, service: service, requestId: requestId)
            if request.header("Origin") != nil, let provider { response.headers += await provider.crossOriginHeaders(request) }
            return EdgeResponse(response: response, service: service, operation: name)
        } catch {
            let awsError: AWSError
            if let e = error as? AWSError {
                awsError = e
            } else {
                logger.error(
                    "internal failure", metadata: ["service": "\(service)", "operation": "\(operationName)", "error": "\(error)", "requestId": "\(requestId)"])
                awsError = .internalFailure()
            }
            var response = wire.serializeError(awsError, operation: operation, model: model, requestId: requestId)
            addRequestIdHeaders(&response, service: service, requestId: requestId)
            if request.header("Origin") != nil, let provider = registry.provider(service) {
                response.headers += await provider.crossOriginHeaders(request)
            }
            return EdgeResponse(response: response, service: service, operation: operationName)
        }
    }

    func addRequestIdHeaders(_ response: inout ProtocolResponse, service: String, requestId: String) {
        if service == "s3" {
            response.headers.append(("x-amz-request-id", requestId))
            response.headers.append(("x-amz-id-2", RequestID.extended()))
        } else {
            response.headers.append(("x-amzn-RequestId", requestId))
        }
    }

    /// The base URL the client used, for URLs in responses (queue URLs...).
    func endpoint(_ request: EdgeRequest) -> String {
        (request.secure ? "https://" : "http://") + (request.header("Host") ?? "\(configuration.host):\(configuration.port)")
    }

    // MARK: resolution

    /// The service a request addresses, and the bucket of a virtual-hosted S3 request.
    func resolveService(_ request: EdgeRequest, query: [(name: String, value: String)], claim: SigV4.Claim?) -> (
        service: String, bucket: String?
    )? {
        let host = hostName(request)
        let virtualBucket = s3VirtualHostBucket(host)
        if let claim, let s = registry.service(signingName: claim.service) {
            return (s, s == "s3" ? virtualBucket : nil)
        }
        if let target = request.header("X-Amz-Target"), let dot = target.lastIndex(of: ".") {
            if let s = registry.service(targetPrefix: String(target[..<dot])) { return (s, nil) }
        }
        let parts = request.rawPath.asciiSplit(UInt8(ascii: "/"))
        if parts.count >= 4, parts[0] == "service", parts[2] == "operation",
            let s = registry.service(targetPrefix: String(parts[1]))
        {
            return (s, nil)
        }
        if virtualBucket != nil { return ("s3", virtualBucket) }
        let suffix = "." + configuration.hostSuffix
        if host.hasSuffix(suffix) {
            let first = String(host.dropLast(suffix.count).asciiSplit(UInt8(ascii: ".")).first ?? "")
            if let s = registry.service(endpointPrefix: first) { return (s, nil) }
        }
        if let action = query.first(where: { $0.name == "Action" })?.value ?? formAction(request),
            let s = registry.service(action: action)
        {
            return (s, nil)
        }
        return registry.entries["s3"] != nil ? ("s3", nil) : nil
    }

    func hostName(_ request: EdgeRequest) -> String {
        let host = (request.header("Host") ?? "").asciiLowercased
        let bytes = host.utf8
        if bytes.first == UInt8(ascii: "[") {
            if let close = bytes.firstIndex(of: UInt8(ascii: "]")) { return String(host[...close]) }
        } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            return String(host[..<colon])
        }
        return host
    }

    /// `<bucket>.s3.localhost` and `<bucket>.s3.<region>.localhost` → the bucket.
    func s3VirtualHostBucket(_ host: String) -> String? {
        let suffix = "." + configuration.hostSuffix
        guard host.utf8HasSuffix(suffix) else { return nil }
        let labels = host.dropLast(suffix.count).asciiSplit(UInt8(ascii: "."), omittingEmpty: false)
        guard let s3 = labels.lastIndex(where: { $0 == "s3" }), s3 > 0 else { return nil }
        let rest = labels[(s3 + 1)...]
        guard rest.count <= 1 else { return nil }
        return labels[..<s3].joined(separator: ".")
    }

    func formAction(_ request: EdgeRequest) -> String? {
        guard let type = request.header("Content-Type"), type.lowercased().hasPrefix("application/x-www-form-urlencoded")
        else { return nil }
        return FormEncoding.decode(Substring(decoding: request.body, as: UTF8.self)).first { $0.0 == "Action" }?.1
    }

    func detectProtocol(model: ServiceModel, request: ProtocolRequest) -> WireProtocolName {
        var protocols = model.metadata.protocols
        // awsQueryCompatible services (SQS) moved to JSON but still answer their older query clients.
        if model.metadata.awsQueryCompatible && !protocols.contains(.query) { protocols.append(.query) }
        if protocols.contains(.rpcV2CBOR), request.header("smithy-protocol") == "rpc-v2-cbor" { return .rpcV2CBOR }
        if protocols.contains(.json), request.header("X-Amz-Target") != nil { return .json }
        for p in [WireProtocolName.query, .ec2] where protocols.contains(p) {
            let form = request.header("Content-Type")?.lowercased().hasPrefix("application/x-www-form-urlencoded") ?? false
            if form || request.queryValue("Action") != nil { return p }
        }
        if let rest = protocols.first(where: { $0 == .restXML || $0 == .restJSON }) { return rest }
        return protocols.first ?? .json
    }

    func unknownOperation(_ name: WireProtocolName, request: ProtocolRequest, service: String) -> AWSError {
        switch name {
        case .query, .ec2:
            let action = request.queryValue("Action")
                ?? FormEncoding.decode(Substring(decoding: request.body, as: UTF8.self)).first { $0.0 == "Action" }?.1
            guard let action else {
                return AWSError(code: "MissingAction", message: "Missing Action", status: 400)
            }
            return .invalidAction(action, service: service)
        case .json:
            return .unknownOperation("The operation \(request.header("X-Amz-Target") ?? "") is not a valid operation of \(service).")
        case .rpcV2CBOR:
            return .unknownOperation("The path \(request.path) does not name an operation of \(service).")
        case .restXML, .restJSON:
            return AWSError(
                code: service == "s3" ? "MethodNotAllowed" : "UnknownOperationException",
                message: "No \(service) operation matches \(request.method) \(request.path).",
                status: service == "s3" ? 405 : 404)
        }
    }

    // MARK: errors before a service is known

    func genericError(_ error: any Error, requestId: String, service: String?) -> EdgeResponse {
        let e = error as? AWSError ?? .internalFailure()
        if let service, let model = try? registry.model(service) {
            let wire = WireProtocols.make(model.metadata.protocols.first ?? .json)
            var response = wire.serializeError(e, operation: nil, model: model, requestId: requestId)
            addRequestIdHeaders(&response, service: service, requestId: requestId)
            return EdgeResponse(response: response, service: service, operation: "-")
        }
        let xml = XMLElement(
            name: "ErrorResponse",
            children: [
                XMLElement(
                    name: "Error",
                    children: [
                        XMLElement(name: "Type", text: e.isSenderFault ? "Sender" : "Receiver"),
                        XMLElement(name: "Code", text: e.code), XMLElement(name: "Message", text: e.message),
                    ]),
                XMLElement(name: "RequestId", text: requestId),
            ])
        return EdgeResponse(
            response: ProtocolResponse(
                status: e.status, headers: [("Content-Type", "text/xml"), ("x-amzn-RequestId", requestId)],
                body: xml.serializedBytes()),
            service: "-", operation: "-")
    }
}
