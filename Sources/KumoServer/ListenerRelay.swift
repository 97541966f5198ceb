import KumoProtocols
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// HTTP/1.1 on a listener port, on the connection's event loop. A request the service's
/// `forward` takes goes to its target over a pooled keep-alive connection made on the same
/// loop, and the answer comes back part by part as it is read, with back-pressure both ways.
/// Any other request is read whole (up to 1 MiB) and answered by the service's `handle`.
/// Pipelined requests wait their turn: what arrives after a whole request is held until its
/// answer is out.
final class ListenerRelay: ChannelInboundHandler, RemovableChannelHandler, TargetOwner {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// A request for `handle`, its body so far (nil once past the limit).
        case reading(HostRoute.Request, ByteBuffer?)
        case answering
        case forwarding(Forwarding)
    }

    static let bodyLimit = 1 << 20
    let service: ListenerService
    let label: String
    private var state = State.idle
    private var keepAlive = true
    private var context: ChannelHandlerContext!
    private var pool: TargetPool!
    private var remote: (address: String?, port: Int?) = (nil, nil)
    /// Parts of pipelined requests read while the one before is answered.
    private var waiting: [HTTPServerRequestPart] = []
    /// The rest of a request body whose answer is already out (the target did not wait for it).
    private var discarding = false
    private var quiescing = false
    /// Whether the client's connection reads (off while a request waits for room or its turn).
    private var clientReading = true

    /// Turns reading from the client on or off (a socket option change only when it changes).
    private func clientReads(_ on: Bool) {
        guard on != clientReading else { return }
        clientReading = on
        try? context.channel.syncOptions?.setOption(.autoRead, value: on)
    }

    /// Whether the connection's idle time is watched from the start, or from its first request
    /// here (behind a `ByteRelay`, which watches it until it hands the connection on).
    private var watchingIdle: Bool

    init(service: ListenerService, label: String, behindByteRelay: Bool = false) {
        self.service = service
        self.label = label
        watchingIdle = !behindByteRelay
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = TargetPool.pool(for: context.eventLoop)
        remote = (context.channel.remoteAddress?.ipAddress, context.channel.remoteAddress?.port)
        if context.channel.isActive, watchingIdle { watchIdle() }
    }

    func channelActive(context: ChannelHandlerContext) {
        if watchingIdle { watchIdle() }
        context.fireChannelActive()
    }

    private var idleSince = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    private var isIdle: Bool {
        if case .idle = state { return waiting.isEmpty }
        return false
    }

    /// Closes the connection once it has carried nothing for the service's idle timeout (the
    /// load balancer's `idle_timeout.timeout_seconds`): one check per timeout, not per request.
    private func watchIdle() {
        idleCheck?.cancel()
        guard let seconds = service.idleTimeout?(), seconds > 0 else { return }
        let timeout = TimeAmount.seconds(Int64(seconds))
        let due = (isIdle ? idleSince : .now()) + timeout
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            if isIdle, idleSince + timeout <= .now() {
                context.close(promise: nil)
            } else {
                watchIdle()
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !watchingIdle {
            watchingIdle = true
            watchIdle()
        }
        let part = unwrapInboundIn(data)
        if discarding {
            if case .end = part { discarding = false }
            return
        }
        guard !busy, waiting.isEmpty else {
            waiting.append(part)
            if waiting.count > 64 { clientReads(false) }
            return
        }
        process(part)
    }

    /// Whether a whole request has been read and its answer is not out yet.
    private var busy: Bool {
        switch state {
        case .answering: true
        case .forwarding(let f): f.requestEnded
        case .idle, .reading: false
        }
    }

    /// Takes up the requests that waited for the one just answered.
    private func drain() {
        while !waiting.isEmpty, !busy, !discarding {
            process(waiting.removeFirst())
        }
        if waiting.count <= 64 { clientReads(true) }
    }

    private func process(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            keepAlive = head.isKeepAlive && !quiescing
            var request = HostRoute.Request(
                method: head.method.rawValue, target: head.uri, headers: head.headers.map { (name: $0.name, value: $0.value) },
                remoteAddress: remote.address, name: label)
            request.remotePort = remote.port
            if let upgrade = service.upgrade, head.headers.contains(name: "upgrade"),
                head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" })
            {
                return startUpgrade(request, resolve: upgrade)
            }
            if let forward = service.forward, Self.relayable(head), let exchange = forward(request) {
                start(Forwarding(exchange: exchange, clientHead: head))
            } else {
                if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
                }
                state = .reading(request, context.channel.allocator.buffer(capacity: 0))
            }
        case .body(var part):
            switch state {
            case .reading(let request, var body?):
                state = .answering  // so `body` is the only reference while it grows
                if body.readableBytes + part.readableBytes > Self.bodyLimit {
                    state = .reading(request, nil)
                } else {
                    body.writeBuffer(&part)
                    state = .reading(request, body)
                }
            case .forwarding(let f):
                f.queue(.body(.byteBuffer(part)))
                if let target = f.target { write(f, to: target) }
            default:
                break
            }
        case .end:
            switch state {
            case .reading(var request, let body):
                state = .answering
                guard let body else {
                    keepAlive = false
                    return answer(Self.tooLarge(), method: request.method)
                }
                request.body = Array(buffer: body)
                let handle = service.handle
                let method = request.method
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let loop = context.eventLoop
                Task {
                    let response = await handle(request)
                    loop.execute { bound.value.answer(response, method: method) }
                }
            case .forwarding(let f):
                f.requestEnded = true
                f.queue(.end(nil))
                if let target = f.target { write(f, to: target) }
            default:
                break
            }
        }
    }

    /// Requests the relay passes on as they are: a body with a known length (or none), no
    /// `Expect` (the target would answer 100 Continue) and no upgrade.
    static func relayable(_ head: HTTPRequestHead) -> Bool {
        !head.headers.contains(name: "transfer-encoding") && !head.headers.contains(name: "expect") && !head.headers.contains(name: "upgrade")
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        readCheck?.task.cancel()
        if case .forwarding(let f) = state {
            // The client left before the whole answer: 460 in the access log, as on AWS.
            state = .idle
            retire(f, reuse: false)
            f.exchange.finished(status: f.answered ? f.status : 460, bodyBytes: f.bodyBytes)
        }
        context.fireChannelInactive()
    }

    /// Kumo is shutting down: the connection closes now when nothing is in flight, else after
    /// the current answer.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        keepAlive = false
        quiescing = true
        waiting.removeAll()
        if case .idle = state { context.close(promise: nil) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .forwarding(let f) = state, let target = f.target {
            f.targetReads = context.channel.isWritable
            try? target.syncOptions?.setOption(.autoRead, value: f.targetReads)
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Forwarding

    private func start(_ f: Forwarding) {
        state = .forwarding(f)
        connect(f, pooled: true)
    }

    private func current(_ f: Forwarding) -> Bool {
        if case .forwarding(let now) = state { return now === f }
        return false
    }

    private func connect(_ f: Forwarding, pooled: Bool) {
        let key = f.exchange.host + ":" + String(f.exchange.port)
        if pooled, let channel = pool.lease(key) { return attach(f, channel, key: key, reused: true) }
        let pool = self.pool!
        TargetPool.open(host: f.exchange.host, port: f.exchange.port, on: context.eventLoop) { channel in
            try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
            try channel.pipeline.syncOperations.addHandler(TargetHandler<ListenerRelay>(key: key, pool: pool))
        }
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard self.current(f) else {
                        pool.release(channel, key: key)
                        return
                    }
                    self.attach(f, channel, key: key, reused: false)
                case .failure:
                    guard self.current(f) else { return }
                    // Nothing reached the target, so another healthy one may take the request.
                    if f.exchange.retarget() { self.connect(f, pooled: true) } else { self.fail(f, status: 502) }
                }
            }
    }

    private func attach(_ f: Forwarding, _ channel: any Channel, key: String, reused: Bool) {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: TargetHandler<ListenerRelay>.self) else {
            channel.close(promise: nil)
            return fail(f, status: 502)
        }
        handler.owner = self
        f.target = channel
        f.targetReads = true
        f.key = key
        f.reused = reused
        f.next = 0
        write(f, to: channel)
        armTimer(f)
    }

    private func write(_ f: Forwarding, to target: any Channel) {
        while f.next < f.parts.count {
            target.write(f.parts[f.next], promise: nil)
            f.next += 1
        }
        target.flush()
        if !f.replayable {
            f.parts.removeAll(keepingCapacity: true)
            f.next = 0
        }
        if !target.isWritable { clientReads(false) }
    }

    /// The target's connection drained its writes: the client's body may flow again.
    func targetWritable(_ writable: Bool, channel: any Channel) {
        guard case .forwarding(let f) = state, f.target === channel, writable else { return }
        clientReads(true)
    }

    /// Starts the wait for the target's bytes. One check per connection watches it: armed when
    /// none is due soon enough, and moved on while the target keeps sending (not one timer per request).
    private func armTimer(_ f: Forwarding) {
        f.lastRead = .now()
        let due = f.lastRead + Self.readTimeout(f)
        if let check = readCheck, check.at <= due { return }
        scheduleReadCheck(at: due)
    }

    private static func readTimeout(_ f: Forwarding) -> TimeAmount { .seconds(Int64(max(1, f.exchange.readTimeout))) }

    private var readCheck: (task: Scheduled<Void>, at: NIODeadline)?

    private func scheduleReadCheck(at due: NIODeadline) {
        readCheck?.task.cancel()
        readCheck = (context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in checkTimeout() }, due)
    }

    private func checkTimeout() {
        readCheck = nil
        guard case .forwarding(let f) = state, f.target != nil else { return }
        let due = f.lastRead + Self.readTimeout(f)
        if due > .now() { return scheduleReadCheck(at: due) }
        if f.answered {
            // Mid-answer: the client cannot get the rest.
            state = .idle
            retire(f, reuse: false)
            f.exchange.finished(status: f.status, bodyBytes: f.bodyBytes)
            context.close(promise: nil)
        } else {
            fail(f, status: 504)
        }
    }

    /// A part of the target's answer.
    func fromTarget(_ part: HTTPClientResponsePart, channel: any Channel) {
        guard case .forwarding(let f) = state, f.target === channel else { return }
        f.lastRead = .now()
        switch part {
        case .head(let head):
            // Informational answers (100 Continue) are not passed on; the real one follows.
            guard head.status.code >= 200 || head.status == .switchingProtocols else { return }
            f.status = Int(head.status.code)
            f.targetKeepAlive = head.isKeepAlive
            let extra = f.exchange.answered(status: f.status, headers: { head.headers.map { (name: $0.name, value: $0.value) } })
            var headers = HTTPHeaders()
            for header in head.headers where !hopByHopHeaders.contains(header.name.lowercased()) { headers.add(name: header.name, value: header.value) }
            for header in extra { headers.add(name: header.name, value: header.value) }
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            f.answered = true
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: head.status, headers: headers))), promise: nil)
        case .body(let buffer):
            f.bodyBytes += buffer.readableBytes
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            // Past the high-water mark: out with it now (`channelWritabilityChanged` pauses and
            // resumes reading from the target).
            if !context.channel.isWritable { context.flush() }
        case .end:
            state = .idle
            retire(f, reuse: f.targetKeepAlive && f.requestEnded)
            f.exchange.finished(status: f.status, bodyBytes: f.bodyBytes)
            discarding = !f.requestEnded
            end(context)
        }
    }

    func flushClient() { context.flush() }

    /// The target's connection closed.
    func targetClosed(_ channel: any Channel) {
        guard case .forwarding(let f) = state, f.target === channel else { return }
        f.target = nil
        if f.answered {
            state = .idle
            f.exchange.finished(status: f.status, bodyBytes: f.bodyBytes)
            context.close(promise: nil)
        } else if f.reused && !f.retried && f.replayable {
            // A pooled connection the target had already closed: once more on a fresh one.
            f.retried = true
            connect(f, pooled: false)
        } else {
            fail(f, status: 502)
        }
    }

    /// The balancer answers itself (502, 504): the target could not.
    private func fail(_ f: Forwarding, status: Int) {
        state = .answering
        discarding = !f.requestEnded
        retire(f, reuse: false)
        let response = f.exchange.failure(status)
        f.exchange.finished(status: status, bodyBytes: response.body.count)
        answer(response, method: f.clientHead.method.rawValue)
    }

    /// Lets go of the target's connection: back to the pool, or closed.
    private func retire(_ f: Forwarding, reuse: Bool) {
        guard let target = f.target else { return }
        f.target = nil
        (try? target.pipeline.syncOperations.handler(type: TargetHandler<ListenerRelay>.self))?.owner = nil
        if !f.targetReads { try? target.syncOptions?.setOption(.autoRead, value: true) }
        if reuse { pool.release(target, key: f.key) } else { target.close(promise: nil) }
    }

    // MARK: Upgrades

    /// A connection upgrade (a WebSocket) asked on a later request of the connection (the first
    /// one is taken by `UpgradeSniffer` before HTTP is parsed): once its target is known, the HTTP
    /// handlers leave the pipeline and the bytes are relayed both ways as they are.
    private func startUpgrade(_ request: HostRoute.Request, resolve: @escaping @Sendable (HostRoute.Request) async -> UpgradeTarget?) {
        state = .answering
        clientReads(false)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let target = await resolve(request)
            loop.execute { bound.value.upgrade(to: target, resolve: resolve) }
        }
    }

    private func upgrade(to target: UpgradeTarget?, resolve: @escaping @Sendable (HostRoute.Request) async -> UpgradeTarget?) {
        guard context.channel.isActive else { return }
        guard let target else {
            keepAlive = false
            clientReads(true)
            return answer(
                ProtocolResponse(status: 503, headers: [("Server", "awselb/2.0"), ("Content-Type", "text/plain")], body: Array("No target for the upgrade\n".utf8)),
                method: "GET")
        }
        let pipeline = context.pipeline.syncOperations
        let sniffer = UpgradeSniffer(resolve: resolve, connecting: true)
        do {
            let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(sniffer, position: .before(decoder.handler))
            let snifferContext = try pipeline.context(handler: sniffer)
            for context in [
                decoder, try pipeline.context(handlerType: HTTPResponseEncoder.self), try pipeline.context(handlerType: HTTPServerProtocolErrorHandler.self),
            ] {
                pipeline.removeHandler(context: context, promise: nil)
            }
            waiting.removeAll()
            state = .idle
            idleCheck?.cancel()
            pipeline.removeHandler(context: context, promise: nil)
            sniffer.connect(target, context: snifferContext)
        } catch {
            context.close(promise: nil)
        }
    }

    // MARK: Answers from `handle`

    /// Writes a whole response (or starts streaming one); runs on the event loop.
    func answer(_ response: ProtocolResponse, method: String) {
        guard case .answering = state, context.channel.isActive else { return }
        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        if !headers.contains(name: "date") { headers.add(name: "Date", value: Timestamp.httpDateNow()) }
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let bodiless = method == "HEAD" || response.status == 204 || response.status == 304
        var body: ByteBuffer?
        if let buffered = response.bodyStream?.buffered {
            body = buffered
        } else if response.bodyStream == nil {
            body = ByteBuffer(bytes: response.body)
        }
        if !headers.contains(name: "content-length") {
            if let body { headers.add(name: "Content-Length", value: String(body.readableBytes)) } else if let length = response.bodyStream?.length {
                headers.add(name: "Content-Length", value: String(length))
            }
        }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if bodiless { return end(context) }
        if let body {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            return end(context)
        }
        guard let stream = response.bodyStream else { return end(context) }
        context.flush()
        let channel = context.channel
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        Task {
            do {
                try await stream.forEach { part in try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(part))) }
                channel.eventLoop.execute { bound.value.end(bound.value.context) }
            } catch {
                channel.close(promise: nil)
            }
        }
    }

    /// Ends the response; the connection closes after it when the client asked so.
    private func end(_ context: ChannelHandlerContext) {
        state = .idle
        idleSince = .now()
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            drain()
        } else {
            waiting.removeAll()
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    static func tooLarge() -> ProtocolResponse {
        ProtocolResponse(status: 413, headers: [("Content-Type", "text/plain"), ("Connection", "close")], body: Array("Request body too large\n".utf8))
    }
}
