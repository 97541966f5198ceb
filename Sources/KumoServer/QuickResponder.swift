import KumoCore
import HummingbirdCore
import KumoProtocols
import Logging
import NIOCore
import NIOHTTP1

/// The edge port's fast path, in front of Hummingbird's HTTP handlers: a plain request without a
/// body whose host route has its answer at once (`HostRoute.quick`: a CloudFront cache hit) is
/// read and answered as bytes on the connection's event loop, with no HTTP objects, task or
/// async channel in between; one to a route that forwards (`HostRoute.forward`: a load
/// balancer's DNS name) goes to a `ByteRelay` put in front; an AWS API call with a small body
/// (`QuickResponder+Calls.swift`) is read here, run by `Edge` in a task, and its answer written
/// as bytes. The first request that is anything else (a large upload, a miss, a website page) is
/// handed, with everything after it, to Hummingbird's handlers, and this handler leaves the
/// pipeline. While it serves, it keeps the connection's idle timeout itself.
final class QuickResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let edge: Edge
    let metrics: EdgeMetrics
    /// Hummingbird's idle timeout, whose handler waits outside the pipeline until the hand-over.
    let idleTimeout: TimeAmount
    let logger: Logger
    /// Where API calls go to be run, as child tasks of the connection's task (`QuickChannel.handle`),
    /// so they see Kumo's shutdown as Hummingbird's handlers do (a long poll then ends at once).
    let calls: AsyncStream<@Sendable () async -> Void>.Continuation
    var context: ChannelHandlerContext!
    var inbound = ByteBuffer()
    /// Whether the connection speaks TLS: known once its first bytes are here (the TLS handler
    /// goes in front once the handshake is seen).
    var secure: Bool?
    var closing = false
    var lastActive = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?
    /// A byte relay is in front: what comes next is what it handed back.
    private var relayed = false
    /// An API call is being answered: requests that come meanwhile wait in `inbound`.
    var answering = false
    /// Reading stopped while a call is answered (see `pipelinedLimit`).
    var readsHeld = false
    /// How much may wait unread behind a call being answered before the connection is not read further.
    static let pipelinedLimit = 1 << 20

    init(edge: Edge, metrics: EdgeMetrics, idleTimeout: TimeAmount, logger: Logger, calls: AsyncStream<@Sendable () async -> Void>.Continuation) {
        self.edge = edge
        self.metrics = metrics
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.calls = calls
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        inbound = context.channel.allocator.buffer(capacity: 0)
        watchIdle()
    }

    func handlerRemoved(context: ChannelHandlerContext) { idleCheck?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var bytes = unwrapInboundIn(data)
        // Bytes already read are dropped, or the buffer would grow by every request the
        // connection carries.
        if inbound.readableBytes == 0 {
            inbound.clear()
        } else if inbound.readerIndex >= 16 << 10 {
            inbound.discardReadBytes()
        }
        inbound.writeBuffer(&bytes)
        // A client pipelining far ahead of an API call being answered is not read further until
        // the answer is out (as Hummingbird's handlers hold their reads).
        if answering, inbound.readableBytes > Self.pipelinedLimit, !readsHeld {
            readsHeld = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        lastActive = .now()
        // Back from a byte relay that was in front: the idle watch is ours again, and the request
        // the relay handed back (one it does not forward: a redirect, a 503) goes to Hummingbird.
        let handedBack = relayed
        relayed = false
        if idleCheck == nil { watchIdle() }
        if !answering { process(handedBack: handedBack) }
    }

    /// Answers the requests read so far, in order, until one must wait (for the rest of its
    /// body, or for the answer of an API call in a task) or goes elsewhere.
    func process(handedBack: Bool = false) {
        var answered = false
        while inbound.readableBytes > 0, !closing {
            guard case .complete(let length) = HTTPHeadBytes.end(of: inbound) else {
                if HTTPHeadBytes.end(of: inbound) == .malformed { return handOn(flushing: answered) }
                break
            }
            switch answer(length) {
            case .answered: answered = true
            case .handOn: return handOn(flushing: answered)
            case .relay: return handedBack ? handOn(flushing: answered) : relay(flushing: answered)
            case .waiting:
                if answered { context.flush() }
                return
            }
        }
        if answered { context.flush() }
    }

    enum Outcome {
        /// Answered here.
        case answered
        /// For Hummingbird's handlers.
        case handOn
        /// For a load balancer: a byte relay in front takes it.
        case relay
        /// An API call: its body is not all here yet, or a task is answering it.
        case waiting
    }

    /// Answers the request whose head is the first `length` bytes, when its route has the answer at once.
    private func answer(_ length: Int) -> Outcome {
        let started = ContinuousClock.now
        guard let head = HTTPHeadBytes.request(inbound.getSlice(at: inbound.readerIndex, length: length)!) else { return .handOn }
        let remote = context.channel.remoteAddress
        let probe = EdgeRequest(method: head.method, target: head.target, headers: head.headers, remoteAddress: remote?.ipAddress)
        guard let (route, name) = edge.hostRoute(probe) else { return call(head, headLength: length) }
        if route.forward != nil { return .relay }
        guard (head.contentLength ?? 0) == 0, let quick = route.quick else { return .handOn }
        var request = HostRoute.Request(method: head.method, target: head.target, headers: head.headers, remoteAddress: remote?.ipAddress, name: name)
        if secure == nil { secure = SecureConnections.contains(context.channel) }
        request.secure = secure ?? false
        request.remotePort = remote?.port
        guard let response = quick(request) else { return .handOn }
        metrics.requestStarted()
        inbound.moveReaderIndex(forwardBy: length)
        if !head.keepAlive { closing = true }
        if write(response, method: head.method) != nil {
            // Quick answers are whole; a streamed one cannot be written here.
            logger.error("a quick answer came with a streamed body")
            closing = true
        }
        let elapsed = ContinuousClock.now - started
        metrics.requestFinished(
            service: route.label, operation: head.method, status: response.status,
            seconds: elapsed.inSeconds)
        if closing { closeWhenWritten() }
        return .answered
    }

    /// A load balancer's request: a byte relay goes in front and takes what is unread. It hands
    /// back here the first request that it does not forward (and leaves), and keeps the idle
    /// timeout while it is there.
    private func relay(flushing: Bool) {
        idleCheck?.cancel()
        idleCheck = nil
        relayed = true
        if flushing { context.flush() }
        let relay = ByteRelay(service: Self.forwarding(edge, metrics: metrics, idleTimeout: idleTimeout), label: "edge")
        do { try context.pipeline.syncOperations.addHandler(relay, position: .before(self)) } catch { return handOn(flushing: false) }
        let rest = inbound
        inbound = context.channel.allocator.buffer(capacity: 0)
        relay.received(rest)
    }

    /// What the relay forwards: requests whose host is claimed by a route that forwards (a load
    /// balancer's DNS name), counted in the edge's metrics as the edge's other requests are.
    private static func forwarding(_ edge: Edge, metrics: EdgeMetrics, idleTimeout: TimeAmount) -> ListenerService {
        ListenerService(
            handle: { _ in ProtocolResponse(status: 500, headers: [], body: []) },
            forward: { request in
                let probe = EdgeRequest(method: request.method, target: request.path, headers: request.headers, remoteAddress: request.remoteAddress)
                guard let (route, name) = edge.hostRoute(probe), let forward = route.forward else { return nil }
                var request = request
                request.name = name
                return forward(request).map { CountedExchange($0, metrics: metrics, service: route.label, operation: request.method) }
            },
            idleTimeout: { Int(idleTimeout.nanoseconds / 1_000_000_000) })
    }

    /// The response as `EdgeServer.write` makes it: its headers, today's Date, a Content-Length,
    /// and no body for HEAD, 204 and 304. A body that streams (not in memory) is returned, for the
    /// caller to write after the head; one of unknown length (an event stream) goes in chunks
    /// (`Transfer-Encoding: chunked`, see `chunk`).
    func write(_ response: ProtocolResponse, method: String) -> ByteStream? {
        let withBody = method != "HEAD" && response.status != 204 && response.status != 304
        var body: ByteBuffer?
        var rest: ByteStream?
        if let stream = response.bodyStream {
            if let buffered = stream.buffered { body = buffered } else { rest = stream }
        } else {
            body = ByteBuffer(bytes: response.body)
        }
        let length = body?.readableBytes ?? rest?.length.map { Int($0) }
        var out = context.channel.allocator.buffer(capacity: 512 + (body?.readableBytes ?? 0))
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(response.status))
        out.writeStaticString(" ")
        out.writeString(HTTPResponseStatus(statusCode: response.status).reasonPhrase)
        out.writeStaticString("\r\n")
        var hasLength = false
        for (name, value) in response.headers where !name.caseInsensitiveEquals("date") {
            hasLength = hasLength || name.caseInsensitiveEquals("content-length")
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("Date: ")
        out.writeString(Timestamp.httpDateNow())
        out.writeStaticString("\r\n")
        if !hasLength, let length {
            out.writeStaticString("Content-Length: ")
            out.writeString(String(length))
            out.writeStaticString("\r\n")
        } else if !hasLength, withBody {
            out.writeStaticString("Transfer-Encoding: chunked\r\n")
        }
        if closing { out.writeStaticString("Connection: close\r\n") }
        out.writeStaticString("\r\n")
        if withBody, var body { out.writeBuffer(&body) }
        context.write(wrapOutboundOut(out), promise: nil)
        return withBody ? rest : nil
    }

    /// Hummingbird takes the connection from here: its idle handler goes back in, and what is
    /// unread goes to its HTTP parser.
    private func handOn(flushing: Bool) {
        idleCheck?.cancel()
        if flushing { context.flush() }
        let pipeline = context.pipeline.syncOperations
        if let counter = try? pipeline.context(handlerType: ConnectionCounter.self) {
            try? pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: .init(idleTimeout), logger: logger), position: .after(counter.handler))
        }
        let rest = inbound
        inbound = ByteBuffer()
        context.fireChannelRead(wrapInboundOut(rest))
        pipeline.removeHandler(context: context, promise: nil)
    }

    /// Closes the connection once it has carried nothing for the idle timeout.
    private func watchIdle() {
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastActive + idleTimeout) { [self] in
            if lastActive + idleTimeout <= .now() { context.close(promise: nil) } else { watchIdle() }
        }
    }

    /// Kumo is shutting down: the connection closes once what was written is out (after the
    /// answer of an API call in progress).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        closing = true
        // An API call being answered closes the connection once its answer is written.
        if answering { return }
        closeWhenWritten()
    }

    /// Closes the connection once what was written is out.
    func closeWhenWritten() {
        let context = self.context!
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// A child channel whose plain requests the quick responder answers first; the rest go to `base`
/// (Hummingbird's HTTP/1.1 channel), whose idle handler the quick responder puts back when it
/// hands the connection over.
struct QuickChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let edge: Edge
    let metrics: EdgeMetrics
    let idleTimeout: TimeAmount

    struct Value: ServerChildChannelValue {
        let base: Base.Value
        /// The API calls the quick responder takes, run as child tasks of the connection's task.
        let calls: AsyncStream<@Sendable () async -> Void>
        var channel: any Channel { base.channel }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let (calls, callSink) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
        return channel.eventLoop.makeCompletedFuture {
            // First in the pipeline, in front of TLS too (see TurnEndFlush).
            try channel.pipeline.syncOperations.addHandler(TurnEndFlush(), position: .first)
            try channel.pipeline.syncOperations.addHandler(
                QuickResponder(edge: edge, metrics: metrics, idleTimeout: idleTimeout, logger: logger, calls: callSink))
        }.flatMap { base.setup(channel: channel, logger: logger) }
            .flatMapThrowing { value in
                let pipeline = channel.pipeline.syncOperations
                pipeline.removeHandler(try pipeline.handler(type: HTTPConnectionStateHandler.self), promise: nil)
                // The connection's end ends the calls (none comes after it).
                channel.closeFuture.whenComplete { _ in callSink.finish() }
                return Value(base: value, calls: calls)
            }
    }

    func handle(value: Value, logger: Logger) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await base.handle(value: value.base, logger: logger) }
            for await call in value.calls { group.addTask { await call() } }
        }
    }
}

/// An exchange the edge relays, counted in the edge's metrics (`/_kumo/metrics`) when it ends.
final class CountedExchange: ForwardExchange {
    let base: any ForwardExchange
    let metrics: EdgeMetrics
    let service: String
    let operation: String
    let started = ContinuousClock.now

    init(_ base: any ForwardExchange, metrics: EdgeMetrics, service: String, operation: String) {
        (self.base, self.metrics, self.service, self.operation) = (base, metrics, service, operation)
        metrics.requestStarted()
    }

    var host: String { base.host }
    var port: Int { base.port }
    var requestTarget: String { base.requestTarget }
    var headers: [(name: String, value: String)] { base.headers }
    var readTimeout: Int { base.readTimeout }
    func retarget() -> Bool { base.retarget() }
    func answered(status: Int, headers: () -> [(name: String, value: String)]) -> [(name: String, value: String)] {
        base.answered(status: status, headers: headers)
    }
    func failure(_ status: Int) -> ProtocolResponse { base.failure(status) }

    func finished(status: Int, bodyBytes: Int) {
        base.finished(status: status, bodyBytes: bodyBytes)
        let elapsed = ContinuousClock.now - started
        metrics.requestFinished(
            service: service, operation: operation, status: status,
            seconds: elapsed.inSeconds)
    }
}
