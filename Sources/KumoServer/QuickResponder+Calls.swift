import KumoCore
import KumoProtocols
import Logging
import NIOCore

/// AWS API calls answered by the quick responder: a request no host route claims, with at most
/// `EdgeServer.wholeBodyLimit` bytes of body framed by Content-Length, is read here (head as
/// bytes, body kept whole), run by `Edge` in a child task of the connection's task (`QuickChannel.handle`), and its
/// answer written as bytes by this handler — the same work `EdgeServer.respond` does, without
/// Hummingbird's request and response objects, its async channel and the tasks that feed it
/// (measured: a sixth of a small S3 PUT's CPU, over a quarter of a small GET's). Larger bodies,
/// `Expect`, chunked uploads and Kumo's own endpoints go on to Hummingbird. Requests pipelined
/// behind a call wait until its answer is written, so answers keep their order.
extension QuickResponder {
    /// Takes the API call whose head is the first `headLength` bytes of `inbound`.
    func call(_ head: HTTPHeadBytes.Request, headLength: Int) -> Outcome {
        let bodyLength = head.contentLength ?? 0
        guard bodyLength <= EdgeServer.wholeBodyLimit, !head.target.hasPrefix("/_kumo/") else { return .handOn }
        // The whole body first: until it is here, the request waits unread.
        guard inbound.readableBytes >= headLength + bodyLength else { return .waiting }
        inbound.moveReaderIndex(forwardBy: headLength)
        // A copy: a slice would keep the connection's whole read buffer alive with it.
        var body = context.channel.allocator.buffer(capacity: bodyLength)
        var slice = inbound.readSlice(length: bodyLength)!
        body.writeBuffer(&slice)
        let remote = context.channel.remoteAddress
        var request = EdgeRequest(method: head.method, target: head.target, headers: head.headers, remoteAddress: remote?.ipAddress)
        if secure == nil { secure = SecureConnections.contains(context.channel) }
        request.secure = secure ?? false
        var preamble = edge.preamble(request)
        if edge.streamsBody(request, preamble: &preamble) {
            request.bodyStream = ByteStream(buffer: body)
        } else {
            request.body = Array(buffer: body)
        }
        if !head.keepAlive { closing = true }
        answering = true
        metrics.requestStarted()
        let started = ContinuousClock.now
        let loop = context.eventLoop
        let responder = NIOLoopBound(self, eventLoop: loop)
        let edge = self.edge
        let parsed = preamble
        let call = request
        calls.yield {
            let answer = await edge.handle(call, preamble: parsed)
            // Usually still on the connection's loop (jobs stay on the loop that enqueued them).
            if loop.inEventLoop {
                responder.value.answered(answer, method: head.method, target: head.target, started: started)
            } else {
                loop.execute { responder.value.answered(answer, method: head.method, target: head.target, started: started) }
            }
        }
        return .waiting
    }

    private func writeChunk(_ chunk: ByteBuffer) -> EventLoopFuture<Void> {
        context.writeAndFlush(wrapOutboundOut(chunk))
    }

    /// A chunk of a body of unknown length, framed (`Transfer-Encoding: chunked`); the empty one ends it.
    static func chunk(_ bytes: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(bytes.readableBytes + 16)
        out.writeString(String(bytes.readableBytes, radix: 16))
        out.writeStaticString("\r\n")
        var bytes = bytes
        out.writeBuffer(&bytes)
        out.writeStaticString("\r\n")
        return out
    }

    /// Writes a call's answer (on the loop), then goes on with the requests that waited.
    private func answered(_ answer: EdgeResponse, method: String, target: String, started: ContinuousClock.Instant) {
        guard context.channel.isActive else { return }
        let rest = write(answer.response, method: method)
        let status = answer.response.status
        let finish = { [self] in
            let elapsed = ContinuousClock.now - started
            metrics.requestFinished(service: answer.service, operation: answer.operation, status: status, seconds: elapsed.inSeconds)
            logger.debug(
                "\(method) \(target) -> \(status)",
                metadata: ["service": "\(answer.service)", "operation": "\(answer.operation)", "ms": "\(Int(elapsed.inSeconds * 1000))"])
            lastActive = .now()
            answering = false
            if readsHeld {
                readsHeld = false
                context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
                context.read()
            }
            if closing {
                closeWhenWritten()
            } else {
                context.flush()
                process()
            }
        }
        guard let rest else { return finish() }
        // A body that streams (a large object): each chunk written once the one before is out.
        context.flush()
        let channel = context.channel
        let loop = context.eventLoop
        let responder = NIOLoopBound(self, eventLoop: loop)
        let done = NIOLoopBound(finish, eventLoop: loop)
        calls.yield {
            do {
                // From this handler, not the channel's tail: Hummingbird's handlers behind it take HTTP parts.
                let chunked = rest.length == nil
                try await rest.forEach { chunk in
                    guard chunk.readableBytes > 0 else { return }
                    let framed = chunked ? Self.chunk(chunk) : chunk
                    try await loop.flatSubmit { responder.value.writeChunk(framed) }.get()
                }
                if chunked { try await loop.flatSubmit { responder.value.writeChunk(Self.chunk(ByteBuffer())) }.get() }
                loop.execute { done.value() }
            } catch {
                loop.execute {
                    responder.value.logger.debug("response not delivered", metadata: ["error": "\(error)"])
                    channel.close(promise: nil)
                }
            }
        }
    }
}
