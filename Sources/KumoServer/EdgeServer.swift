import KumoCore
import HummingbirdCore
import HTTPTypes
public import Logging
public import NIOCore
import NIOHTTPTypes
import NIOPosix
public import ServiceLifecycle
import KumoProtocols
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The edge's HTTP/1.1 listener: reads each request, hands it to `Edge` (or
/// Kumo's own endpoints under `/_kumo/`), and writes the answer.
public struct EdgeServer: Service {
    let edge: Edge
    let internalEndpoints: InternalEndpoints
    let metrics: EdgeMetrics
    let logger: Logger
    let onRunning: @Sendable (SocketAddress?) async -> Void
    /// When given, clients that open with a TLS handshake get HTTPS on the same port.
    let tls: EdgeTLS?

    public init(
        edge: Edge, internalEndpoints: InternalEndpoints, metrics: EdgeMetrics, logger: Logger, tls: EdgeTLS? = nil,
        onRunning: @escaping @Sendable (SocketAddress?) async -> Void
    ) {
        self.tls = tls
        self.edge = edge
        self.internalEndpoints = internalEndpoints
        self.metrics = metrics
        self.logger = logger
        self.onRunning = onRunning
    }

    /// How long a client connection may stay quiet before it is closed.
    static let idleTimeout = TimeAmount.seconds(330)

    public func run() async throws {
        let metrics = self.metrics
        let channel = HTTP1Channel(
            responder: { request, writer, channel in
                await self.respond(request, writer: writer, channel: channel)
            },
            configuration: .init(
                additionalChannelHandlers: [ConnectionCounter(metrics: metrics)], idleTimeout: Self.idleTimeout,
                httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 64 * 1024, maxHeaderFieldCount: 200)))
        // Cache hits are answered in front of Hummingbird's handlers (see QuickResponder).
        let quick = QuickChannel(base: channel, edge: edge, metrics: metrics, idleTimeout: Self.idleTimeout)
        // A connection whose first request upgrades (a WebSocket to a load balancer's DNS name) is relayed.
        let upgrades = UpgradeChannel(base: quick) { [edge] request in
            let probe = EdgeRequest(method: request.method, target: request.path, headers: request.headers, remoteAddress: request.remoteAddress)
            guard let (route, name) = edge.hostRoute(probe), let upgrade = route.upgrade else { return nil }
            var routed = request
            routed.name = name
            return await upgrade(routed)
        }
        if let tls {
            try await serve(EitherTLSChannel(base: upgrades, tls: tls))
        } else {
            try await serve(upgrades)
        }
    }

    private func serve(_ channel: some ServerChildChannel) async throws {
        let onRunning = self.onRunning
        let server = Server(
            childChannelSetup: channel,
            configuration: .init(address: .hostname(edge.configuration.host, port: edge.configuration.port), backlog: 1024),
            onServerRunning: { channel in await onRunning(channel.localAddress) },
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger)
        try await server.run()
    }

    /// Whether the connection speaks TLS (the sniffer marked it when it put a TLS handler in its pipeline).
    func isSecure(_ channel: any Channel) -> Bool {
        tls != nil && SecureConnections.contains(channel)
    }

    /// The largest body read whole before dispatch: any API call's on the quick responder's path,
    /// a streaming operation's (S3 PutObject, UploadPart) on Hummingbird's; larger ones stream.
    static let wholeBodyLimit = 64 << 10

    func respond(_ request: Request, writer: consuming ResponseWriter, channel: any Channel) async {
        let start = ContinuousClock.now
        metrics.requestStarted()
        var request = request
        let head = request.head
        let headers = head.headerList
        var answer: EdgeResponse
        do {
            if head.headerFields[.expect]?.lowercased() == "100-continue" {
                try await writer.writeInformationalHead(HTTPResponse(status: .continue))
            }
            var edgeRequest = EdgeRequest(
                method: head.method.rawValue, target: head.path ?? "/", headers: headers,
                remoteAddress: channel.remoteAddress?.ipAddress)
            edgeRequest.secure = isSecure(channel)
            if let (route, name) = edge.hostRoute(edgeRequest) {
                let body = try await request.collectBody(upTo: 1 << 20)
                var routed = HostRoute.Request(head: head, remoteAddress: edgeRequest.remoteAddress, name: name, body: Array(buffer: body))
                routed.secure = edgeRequest.secure
                routed.remotePort = channel.remoteAddress?.port
                let response = await route.handle(routed)
                answer = EdgeResponse(response: response, service: route.label, operation: edgeRequest.method)
            } else {
                var preamble = edge.preamble(edgeRequest)
                if edge.streamsBody(edgeRequest, preamble: &preamble) {
                    let body = request.body
                    let length = head.headerFields[.contentLength].flatMap { Int64($0) }
                    if let length, length <= Int64(Self.wholeBodyLimit) {
                        // Small enough to hold: read whole, so the operation gets it in one piece
                        // (an S3 object this small is written without a trip to the I/O threads).
                        edgeRequest.bodyStream = ByteStream(buffer: try await request.collectBody(upTo: Int(length)))
                    } else {
                        edgeRequest.bodyStream = ByteStream(length: length) { sink in
                            for try await buffer in body { try await sink(buffer) }
                        }
                    }
                } else {
                    edgeRequest.body = Array(buffer: try await request.collectBody(upTo: edge.configuration.maxBodySize))
                }
                if edgeRequest.rawPath.hasPrefix("/_kumo/") {
                    answer = EdgeResponse(response: await internalEndpoints.handle(edgeRequest), service: "kumo", operation: edgeRequest.rawPath)
                } else {
                    answer = await edge.handle(edgeRequest, preamble: preamble)
                }
            }
        } catch is NIOTooManyBytesError {
            answer = tooLarge()
        } catch {
            metrics.requestFinished(service: "-", operation: "-", status: 400, seconds: 0)
            logger.debug("request aborted", metadata: ["error": "\(error)"])
            return
        }
        let status = answer.response.status
        do {
            try await Self.write(answer.response, method: head.method, to: writer)
        } catch {
            logger.debug("response not delivered", metadata: ["error": "\(error)"])
        }
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed.inSeconds
        metrics.requestFinished(service: answer.service, operation: answer.operation, status: status, seconds: seconds)
        logger.debug(
            "\(head.method.rawValue) \(head.path ?? "/") -> \(status)",
            metadata: ["service": "\(answer.service)", "operation": "\(answer.operation)", "ms": "\(Int(seconds * 1000))"])
    }

    /// Writes a response: whole bodies in one piece, streamed ones as they come; no body for
    /// HEAD, 204 and 304. (The listener ports' relay writes its answers itself, with NIO's HTTP types.)
    static func write(_ response: ProtocolResponse, method: HTTPRequest.Method, to writer: consuming ResponseWriter) async throws {
        var fields = HTTPFields()
        for (name, value) in response.headers {
            guard let n = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: n, value: value))
        }
        fields[.date] = Timestamp.httpDateNow()
        let status = response.status
        let body: ResponseBody
        if let buffered = response.bodyStream?.buffered {
            if fields[.contentLength] == nil { fields[.contentLength] = String(buffered.readableBytes) }
            body = ResponseBody(byteBuffer: buffered)
        } else if let stream = response.bodyStream {
            if fields[.contentLength] == nil, let length = stream.length { fields[.contentLength] = String(length) }
            body = ResponseBody { writer in
                try await stream.forEach { buffer in try await writer.write(buffer) }
                try await writer.finish(nil)
            }
        } else {
            if fields[.contentLength] == nil { fields[.contentLength] = String(response.body.count) }
            body = ResponseBody(byteBuffer: ByteBuffer(bytes: response.body))
        }
        try await writer.write(
            response: HTTPResponse(status: .init(code: status), headerFields: fields),
            body: method == .head || status == 304 || status == 204 ? ResponseBody() : body)
    }

    func tooLarge() -> EdgeResponse {
        let xml = XMLElement(
            name: "Error",
            children: [
                XMLElement(name: "Code", text: "EntityTooLarge"),
                XMLElement(name: "Message", text: "Your proposed upload exceeds the maximum allowed object size."),
            ])
        return EdgeResponse(
            response: ProtocolResponse(status: 413, headers: [("Content-Type", "application/xml"), ("Connection", "close")], body: xml.serializedBytes()),
            service: "-", operation: "-")
    }
}

/// Counts open client connections for `/_kumo/metrics`.
final class ConnectionCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    let metrics: EdgeMetrics

    init(metrics: EdgeMetrics) { self.metrics = metrics }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { metrics.connectionOpened() }
    }

    func channelActive(context: ChannelHandlerContext) {
        metrics.connectionOpened()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        metrics.connectionClosed()
        context.fireChannelInactive()
    }
}
