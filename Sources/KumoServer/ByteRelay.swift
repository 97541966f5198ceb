import KumoProtocols
import NIOCore
import NIOHTTP1
import NIOPosix

/// A listener port's fast path, in front of NIO's HTTP/1.1 handlers and `ListenerRelay` (and on
/// the edge port, in front of `QuickResponder`, for a load balancer's DNS name): a plain
/// HTTP/1.1 request (see `HTTPHeadBytes.request`) that the service forwards goes to its target
/// as bytes — a new head, then the body as it arrives — and the answer comes back as bytes: its
/// head read and rewritten, its body passed on unchanged (counted by length, or followed through
/// its chunks). No HTTP objects are made for either side. The first request that is not plain,
/// or that the service does not forward, is handed with everything after it to the handlers
/// behind, and this handler leaves the pipeline.
final class ByteRelay: ChannelInboundHandler, RemovableChannelHandler, TargetOwner {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let service: ListenerService
    let label: String
    private var context: ChannelHandlerContext!
    private var pool: TargetPool!
    private var remote: (address: String?, port: Int?) = (nil, nil)
    /// Whether the client speaks TLS to us (the edge port takes both).
    private var secure = false
    /// Client bytes not taken yet: the next request's head, pipelined requests.
    private var inbound = ByteBuffer()
    private var current: Exchange?
    /// Client body bytes to drop: the rest of a request answered before its body was all read.
    private var discard = 0
    private var keepAlive = true
    private var quiescing = false
    /// The connection closes once its last answer is out: nothing more is read from it.
    private var closing = false
    private var clientReading = true
    private var idleSince = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?
    private var readCheck: (task: Scheduled<Void>, at: NIODeadline)?

    /// One request on its way to a target and back.
    final class Exchange {
        let exchange: any ForwardExchange
        let method: String
        /// What the target is sent: the head, then body parts as they come (kept for a second
        /// attempt while they are under `replayLimit`).
        var parts: [ByteBuffer] = []
        var next = 0
        var replayable = true
        private var kept = 0
        /// Request body bytes still to come from the client.
        var bodyLeft: Int
        var target: (any Channel)?
        var key = ""
        var reused = false
        var retried = false
        var targetReads = true
        var lastRead = NIODeadline.now()
        /// The answer: its head so far, then how much of its body is left.
        var head: ByteBuffer?
        var framing = HTTPHeadBytes.Framing.none
        var chunks = ChunkScanner()
        var answered = false
        var status = 0
        var bodyBytes = 0
        var targetKeepAlive = true

        static let replayLimit = 64 << 10

        init(exchange: any ForwardExchange, method: String, head: ByteBuffer, bodyLength: Int) {
            self.exchange = exchange
            self.method = method
            self.bodyLeft = bodyLength
            parts.append(head)
        }

        func queue(_ part: ByteBuffer) {
            kept += part.readableBytes
            if kept > Self.replayLimit { replayable = false }
            parts.append(part)
        }
    }

    init(service: ListenerService, label: String) {
        self.service = service
        self.label = label
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = TargetPool.pool(for: context.eventLoop)
        remote = (context.channel.remoteAddress?.ipAddress, context.channel.remoteAddress?.port)
        secure = SecureConnections.contains(context.channel)
        inbound = context.channel.allocator.buffer(capacity: 0)
        if context.channel.isActive { watchIdle() }
    }

    func channelActive(context: ChannelHandlerContext) {
        watchIdle()
        context.fireChannelActive()
    }

    // MARK: The client's side

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { received(unwrapInboundIn(data)) }

    /// Client bytes: from the socket, or those a handler behind had read when it put this relay in front.
    func received(_ bytes: ByteBuffer) {
        var bytes = bytes
        if closing { return }
        if discard > 0 {
            let n = min(discard, bytes.readableBytes)
            bytes.moveReaderIndex(forwardBy: n)
            discard -= n
        }
        if let x = current, x.bodyLeft > 0, inbound.readableBytes == 0 {
            // Body bytes go straight on (whatever follows the body waits in `inbound`).
            let n = min(x.bodyLeft, bytes.readableBytes)
            if n > 0 {
                sendBody(x, bytes.readSlice(length: n)!)
            }
        }
        if bytes.readableBytes > 0 {
            inbound.writeBuffer(&bytes)
        }
        if current == nil {
            takeRequests()
        } else if inbound.readableBytes > HTTPHeadBytes.limit {
            clientReads(false)
        }
    }

    /// Starts on the request at the front of `inbound`, when there is a whole head.
    private func takeRequests() {
        guard current == nil, !closing, context.channel.isActive, inbound.readableBytes > 0 else { return }
        switch HTTPHeadBytes.end(of: inbound) {
        case .incomplete:
            return
        case .malformed:
            return handOn()
        case .complete(let length):
            guard let head = HTTPHeadBytes.request(inbound.getSlice(at: inbound.readerIndex, length: length)!), let forward = service.forward else {
                return handOn()
            }
            var request = HostRoute.Request(method: head.method, target: head.target, headers: head.headers, remoteAddress: remote.address, name: label)
            request.remotePort = remote.port
            request.secure = secure
            guard let exchange = forward(request) else { return handOn() }
            inbound.moveReaderIndex(forwardBy: length)
            keepAlive = head.keepAlive && !quiescing
            let x = Exchange(exchange: exchange, method: head.method, head: targetHead(head, exchange), bodyLength: head.contentLength ?? 0)
            current = x
            let n = min(x.bodyLeft, inbound.readableBytes)
            if n > 0 {
                x.queue(inbound.readSlice(length: n)!)
                x.bodyLeft -= n
            }
            connect(x, pooled: true)
        }
    }

    /// The head the target gets: the request line with the exchange's target, its headers, and
    /// the client's Content-Length (a POST, PUT or PATCH without one says 0).
    private func targetHead(_ head: HTTPHeadBytes.Request, _ exchange: any ForwardExchange) -> ByteBuffer {
        var out = context.channel.allocator.buffer(capacity: 512)
        out.writeString(head.method)
        out.writeStaticString(" ")
        out.writeString(exchange.requestTarget)
        out.writeStaticString(" HTTP/1.1\r\n")
        for (name, value) in exchange.headers {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if let length = head.contentLength {
            out.writeStaticString("Content-Length: ")
            out.writeString(String(length))
            out.writeStaticString("\r\n")
        } else if head.method == "POST" || head.method == "PUT" || head.method == "PATCH" {
            out.writeStaticString("Content-Length: 0\r\n")
        }
        out.writeStaticString("\r\n")
        return out
    }

    /// The handlers behind take the connection from here: what is unread goes to them.
    private func handOn() {
        idleCheck?.cancel()
        readCheck?.task.cancel()
        clientReads(true)
        let rest = inbound
        inbound = ByteBuffer()
        context.fireChannelRead(wrapInboundOut(rest))
        // This may be in a target's read (the answer before ended): handlers that act at the end
        // of a read (NIO's async channels) must see one.
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func sendBody(_ x: Exchange, _ part: ByteBuffer) {
        x.bodyLeft -= part.readableBytes
        x.queue(part)
        if let target = x.target { write(x, to: target) }
    }

    private func clientReads(_ on: Bool) {
        guard on != clientReading else { return }
        clientReading = on
        try? context.channel.syncOptions?.setOption(.autoRead, value: on)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        readCheck?.task.cancel()
        if let x = current {
            // The client left before the whole answer: 460 in the access log, as on AWS.
            current = nil
            retire(x, reuse: false)
            x.exchange.finished(status: x.answered ? x.status : 460, bodyBytes: x.bodyBytes)
        }
        context.fireChannelInactive()
    }

    /// Kumo is shutting down: the connection closes now when nothing is in flight, else after
    /// the current answer. (Not passed on: the handlers behind have no request of this connection.)
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        keepAlive = false
        quiescing = true
        if current == nil { context.close(promise: nil) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let x = current, let target = x.target {
            x.targetReads = context.channel.isWritable
            try? target.syncOptions?.setOption(.autoRead, value: x.targetReads)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    // MARK: Idle connections and slow targets

    /// Closes the connection once it has carried nothing for the service's idle timeout.
    private func watchIdle() {
        idleCheck?.cancel()
        guard let seconds = service.idleTimeout?(), seconds > 0 else { return }
        let timeout = TimeAmount.seconds(Int64(seconds))
        let due = (current == nil ? idleSince : .now()) + timeout
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            if current == nil, idleSince + timeout <= .now() {
                context.close(promise: nil)
            } else {
                watchIdle()
            }
        }
    }

    private static func readTimeout(_ x: Exchange) -> TimeAmount { .seconds(Int64(max(1, x.exchange.readTimeout))) }

    /// Starts the wait for the target's bytes: one check per connection, armed when none is due
    /// soon enough and moved on while the target keeps sending.
    private func armTimer(_ x: Exchange) {
        x.lastRead = .now()
        let due = x.lastRead + Self.readTimeout(x)
        if let check = readCheck, check.at <= due { return }
        scheduleReadCheck(at: due)
    }

    private func scheduleReadCheck(at due: NIODeadline) {
        readCheck?.task.cancel()
        readCheck = (context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in checkTimeout() }, due)
    }

    private func checkTimeout() {
        readCheck = nil
        guard let x = current, x.target != nil else { return }
        let due = x.lastRead + Self.readTimeout(x)
        if due > .now() { return scheduleReadCheck(at: due) }
        if x.answered {
            // Mid-answer: the client cannot get the rest.
            current = nil
            retire(x, reuse: false)
            x.exchange.finished(status: x.status, bodyBytes: x.bodyBytes)
            context.close(promise: nil)
        } else {
            fail(x, status: 504)
        }
    }

    // MARK: The target's side

    private func connect(_ x: Exchange, pooled: Bool) {
        let key = "bytes " + x.exchange.host + ":" + String(x.exchange.port)
        if pooled, let channel = pool.lease(key) { return attach(x, channel, key: key, reused: true) }
        let pool = self.pool!
        TargetPool.open(host: x.exchange.host, port: x.exchange.port, on: context.eventLoop) { channel in
            try channel.pipeline.syncOperations.addHandler(TargetHandler<ByteRelay>(key: key, pool: pool))
        }
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard self.current === x else { return pool.release(channel, key: key) }
                    self.attach(x, channel, key: key, reused: false)
                case .failure:
                    guard self.current === x else { return }
                    // Nothing reached the target, so another healthy one may take the request.
                    if x.exchange.retarget() { self.connect(x, pooled: true) } else { self.fail(x, status: 502) }
                }
            }
    }

    private func attach(_ x: Exchange, _ channel: any Channel, key: String, reused: Bool) {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: TargetHandler<ByteRelay>.self) else {
            channel.close(promise: nil)
            return fail(x, status: 502)
        }
        handler.owner = self
        x.target = channel
        x.targetReads = true
        x.key = key
        x.reused = reused
        x.next = 0
        write(x, to: channel)
        armTimer(x)
    }

    private func write(_ x: Exchange, to target: any Channel) {
        while x.next < x.parts.count {
            target.write(x.parts[x.next], promise: nil)
            x.next += 1
        }
        target.flush()
        if !x.replayable {
            x.parts.removeAll(keepingCapacity: true)
            x.next = 0
        }
        if !target.isWritable { clientReads(false) }
    }

    /// The target's connection drained its writes: the client's body may flow again.
    func targetWritable(_ writable: Bool, channel: any Channel) {
        guard let x = current, x.target === channel, writable else { return }
        clientReads(true)
    }

    /// Bytes of the target's answer.
    func fromTarget(_ bytes: ByteBuffer, channel: any Channel) {
        guard let x = current, x.target === channel else { return }
        x.lastRead = .now()
        var bytes = bytes
        if !x.answered {
            if x.head == nil {
                x.head = bytes
            } else {
                x.head!.writeBuffer(&bytes)
            }
            guard let rest = readHead(x) else { return }
            bytes = rest
        }
        passBody(x, &bytes)
    }

    /// Reads the answer's head once it is whole, and writes the client's: the rest of the bytes,
    /// or nil while the head is incomplete (or the exchange ended).
    private func readHead(_ x: Exchange) -> ByteBuffer? {
        while var buffered = x.head {
            switch HTTPHeadBytes.end(of: buffered) {
            case .incomplete:
                return nil
            case .malformed:
                fail(x, status: 502)
                return nil
            case .complete(let length):
                guard let answer = HTTPHeadBytes.response(buffered.readSlice(length: length)!, method: x.method) else {
                    fail(x, status: 502)
                    return nil
                }
                // Informational answers (100 Continue, 103 Early Hints) are not passed on.
                if answer.status < 200 {
                    x.head = buffered
                    continue
                }
                x.head = nil
                x.status = answer.status
                x.framing = answer.framing
                x.targetKeepAlive = answer.keepAlive
                x.answered = true
                if answer.framing == .close { keepAlive = false }
                context.write(wrapOutboundOut(clientHead(answer, extra: x.exchange.answered(status: answer.status, headers: { answer.headers }))), promise: nil)
                return buffered
            }
        }
        return nil
    }

    /// The client's head: the target's status and headers, less those of its connection, with the
    /// exchange's own (cookies) added.
    private func clientHead(_ answer: HTTPHeadBytes.Response, extra: [(name: String, value: String)]) -> ByteBuffer {
        var out = context.channel.allocator.buffer(capacity: 512)
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(answer.status))
        out.writeStaticString(" ")
        out.writeString(answer.reason)
        out.writeStaticString("\r\n")
        out.writeImmutableBuffer(answer.passed)
        for (name, value) in extra {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if answer.framing == .chunked { out.writeStaticString("Transfer-Encoding: chunked\r\n") }
        if !keepAlive { out.writeStaticString("Connection: close\r\n") }
        out.writeStaticString("\r\n")
        return out
    }

    /// Passes body bytes on to the client and ends the exchange at the body's end.
    private func passBody(_ x: Exchange, _ bytes: inout ByteBuffer) {
        var ended = false
        switch x.framing {
        case .none:
            ended = true
        case .length(let left):
            let n = min(left, bytes.readableBytes)
            if n > 0 { forwardToClient(x, bytes.readSlice(length: n)!) }
            x.framing = .length(left - n)
            ended = left == n
        case .chunked:
            let n: Int
            do { n = try bytes.withUnsafeReadableBytes { raw in try x.chunks.scan(raw) } } catch {
                // Not a chunked body after all: the client cannot be told where it ends.
                current = nil
                retire(x, reuse: false)
                x.exchange.finished(status: x.status, bodyBytes: x.bodyBytes)
                context.close(promise: nil)
                return
            }
            if n > 0 { forwardToClient(x, bytes.readSlice(length: n)!) }
            ended = x.chunks.isDone
        case .close:
            if bytes.readableBytes > 0 { forwardToClient(x, bytes) }
            return
        }
        // Bytes past the answer's end: the target's connection is not one to reuse.
        if ended { finish(x, reuse: x.targetKeepAlive && bytes.readableBytes == 0) }
    }

    private func forwardToClient(_ x: Exchange, _ part: ByteBuffer) {
        x.bodyBytes += part.readableBytes
        context.write(wrapOutboundOut(part), promise: nil)
        // Past the high-water mark: out with it now (`channelWritabilityChanged` pauses the target).
        if !context.channel.isWritable { context.flush() }
    }

    func flushClient() { context.flush() }

    /// The answer is out: the next request may start.
    private func finish(_ x: Exchange, reuse: Bool) {
        current = nil
        retire(x, reuse: reuse && x.bodyLeft == 0)
        x.exchange.finished(status: x.status, bodyBytes: x.bodyBytes)
        discard = x.bodyLeft
        ended()
    }

    private func ended() {
        idleSince = .now()
        if keepAlive {
            context.flush()
            clientReads(true)
            takeRequests()
        } else {
            closing = true
            let context = self.context!
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// The target's connection closed.
    func targetClosed(_ channel: any Channel) {
        guard let x = current, x.target === channel else { return }
        x.target = nil
        if x.answered {
            if x.framing == .close { return finish(x, reuse: false) }
            current = nil
            x.exchange.finished(status: x.status, bodyBytes: x.bodyBytes)
            context.close(promise: nil)
        } else if x.reused && !x.retried && x.replayable && x.head == nil {
            // A pooled connection the target had already closed: once more on a fresh one.
            x.retried = true
            connect(x, pooled: false)
        } else {
            fail(x, status: 502)
        }
    }

    /// The balancer answers itself (502, 504): the target could not.
    private func fail(_ x: Exchange, status: Int) {
        current = nil
        retire(x, reuse: false)
        let response = x.exchange.failure(status)
        x.exchange.finished(status: status, bodyBytes: response.body.count)
        discard = x.bodyLeft
        var out = context.channel.allocator.buffer(capacity: 256 + response.body.count)
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(status))
        out.writeStaticString(" ")
        out.writeString(HTTPResponseStatus(statusCode: status).reasonPhrase)
        out.writeStaticString("\r\n")
        var dated = false
        for (name, value) in response.headers {
            dated = dated || name.caseInsensitiveEquals("date")
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if !dated {
            out.writeStaticString("Date: ")
            out.writeString(Timestamp.httpDateNow())
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("Content-Length: ")
        out.writeString(String(response.body.count))
        out.writeStaticString("\r\n")
        if !keepAlive { out.writeStaticString("Connection: close\r\n") }
        out.writeStaticString("\r\n")
        if x.method != "HEAD" { out.writeBytes(response.body) }
        context.write(wrapOutboundOut(out), promise: nil)
        ended()
    }

    /// Lets go of the target's connection: back to the pool, or closed.
    private func retire(_ x: Exchange, reuse: Bool) {
        guard let target = x.target else { return }
        x.target = nil
        (try? target.pipeline.syncOperations.handler(type: TargetHandler<ByteRelay>.self))?.owner = nil
        if !x.targetReads { try? target.syncOptions?.setOption(.autoRead, value: true) }
        if reuse { pool.release(target, key: x.key) } else { target.close(promise: nil) }
    }
}
