public import KumoProtocols
public import NIOCore
import NIOHTTP1
public import NIOPosix
import NIOSSL
import Synchronization

/// A request to an upstream HTTP/1.1 server (a CloudFront origin, later an ALB target).
public struct UpstreamRequest: Sendable {
    public var method: String
    /// Path and query as they go on the request line.
    public var target: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }
}

/// An upstream's answer. The body arrives as it is read; whoever receives the response
/// consumes it (or calls `discard`) so the connection can go back to the pool.
public struct UpstreamResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: ByteStream

    public func header(_ name: String) -> String? { headers.first { $0.name.caseInsensitiveEquals(name) }?.value }

    /// Reads and drops the body.
    public func discard() async { try? await body.forEach { _ in } }
}

/// Why an upstream request failed, as a proxy reports it (502 vs 504).
public enum UpstreamError: Error, Sendable, Equatable {
    case connectFailed(String)
    case timedOut
    case closedEarly
}

/// HTTP/1.1 client for proxying: keep-alive connections pooled per host and port,
/// explicit connect and read timeouts, no redirects followed, bodies streamed.
public final class UpstreamClient: Sendable {
    public struct Configuration: Sendable {
        public var connectTimeout: TimeAmount
        /// Longest wait for the next bytes of a response (and longest idle time of a pooled connection).
        public var readTimeout: TimeAmount
        /// Idle connections kept per upstream host and event loop.
        public var maxIdlePerHost: Int

        public init(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(30), maxIdlePerHost: Int = 32) {
            self.connectTimeout = connectTimeout
            self.readTimeout = readTimeout
            self.maxIdlePerHost = maxIdlePerHost
        }
    }

    let configuration: Configuration
    let group: any EventLoopGroup
    private let idle = Mutex<[String: [UpstreamConnection]]>([:])

    public init(configuration: Configuration = .init(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    /// TLS to an upstream: the name sent for SNI, and whether its certificate is checked
    /// (Route 53 health checks, like AWS's, do not check it).
    public struct TLS: Sendable {
        public var serverName: String?
        public var verifyCertificate: Bool

        public init(serverName: String?, verifyCertificate: Bool) {
            self.serverName = serverName
            self.verifyCertificate = verifyCertificate
        }
    }

    /// Sends the request to `host:port` (over TLS when `tls` is given) and returns once the
    /// response head has arrived.
    public func execute(
        _ request: UpstreamRequest, host: String, port: Int, readTimeout: TimeAmount? = nil, tls: TLS? = nil
    ) async throws -> UpstreamResponse {
        // Connections are pooled per event loop and made on the caller's loop: a request read on
        // one loop then reaches its upstream and comes back without crossing threads.
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        let scheme = tls.map { "https:\($0.serverName ?? ""):\($0.verifyCertificate)" } ?? "http"
        let key = "\(scheme)//\(host):\(port)@\(ObjectIdentifier(loop).hashValue)"
        // A pooled connection may have been closed by the server meanwhile; one retry on a fresh one.
        if let pooled = lease(key) {
            if let response = try? await send(request, on: pooled, key: key) { return response }
        }
        let fresh = try await connect(host: host, port: port, on: loop, readTimeout: readTimeout ?? configuration.readTimeout, tls: tls)
        return try await send(request, on: fresh, key: key)
    }

    private func lease(_ key: String) -> UpstreamConnection? {
        idle.withLock { pool in
            while let c = pool[key]?.popLast() {
                if c.channel.isActive { return c }
                c.retire()
            }
            return nil
        }
    }

    private func release(_ connection: UpstreamConnection, key: String) {
        let kept = idle.withLock { pool -> Bool in
            guard connection.channel.isActive, pool[key, default: []].count < configuration.maxIdlePerHost else { return false }
            pool[key, default: []].append(connection)
            return true
        }
        if !kept { connection.retire() }
    }

    private func connect(host: String, port: Int, on loop: any EventLoop, readTimeout: TimeAmount, tls: TLS?) async throws -> UpstreamConnection {
        let sslContext: NIOSSLContext?
        if let tls {
            var config = TLSConfiguration.makeClientConfiguration()
            if !tls.verifyCertificate { config.certificateVerification = .none }
            do { sslContext = try NIOSSLContext(configuration: config) } catch { throw UpstreamError.connectFailed("TLS: \(error)") }
        } else {
            sslContext = nil
        }
        let serverName = tls?.serverName.flatMap { name in name.first?.isNumber == true || name.contains(":") ? nil : name }
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        let timeout = TimeoutFlag()
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(configuration.connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                        }
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: readTimeout))
                        try channel.pipeline.syncOperations.addHandler(CloseOnIdle(flag: timeout))
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw UpstreamError.connectFailed("\(error)")
        }
        // The channel's inbound and outbound halves live inside `executeThenClose`; a task keeps
        // that scope open for as long as the connection is in use or pooled.
        return try await withCheckedThrowingContinuation { (handoff: CheckedContinuation<UpstreamConnection, any Error>) in
            Task {
                do {
                    try await channel.executeThenClose { inbound, outbound in
                        let connection = UpstreamConnection(
                            channel: channel.channel, writer: outbound, iterator: inbound.makeAsyncIterator(), timeout: timeout)
                        channel.channel.closeFuture.whenComplete { _ in connection.retire() }
                        handoff.resume(returning: connection)
                        await connection.waitUntilRetired()
                    }
                } catch {
                    // The handoff already happened; closing errors do not matter to anyone.
                }
            }
        }
    }

    private func send(_ request: UpstreamRequest, on connection: UpstreamConnection, key: String) async throws -> UpstreamResponse {
        var headers = HTTPHeaders(request.headers.map { ($0.name, $0.value) })
        if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(request.method), !headers.contains(name: "content-length") {
            headers.replaceOrAdd(name: "Content-Length", value: String(request.body.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: request.target, headers: headers)
        do {
            // One write (one flush) for the whole request.
            var parts: [HTTPClientRequestPart] = [.head(head)]
            if !request.body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: request.body)))) }
            parts.append(.end(nil))
            try await connection.writer.write(contentsOf: parts)
            var responseHead: HTTPResponseHead?
            while responseHead == nil {
                guard let part = try await connection.next() else { throw UpstreamError.closedEarly }
                // Informational answers (100 Continue) come before the real one.
                if case .head(let h) = part, h.status.code >= 200 || h.status.code == 101 { responseHead = h }
            }
            guard let responseHead else { throw UpstreamError.closedEarly }
            let reusable = responseHead.isKeepAlive
            let length = responseHead.headers.first(name: "content-length").flatMap { Int64($0) }
            let pool = self
            let body = ByteStream(length: request.method == "HEAD" ? nil : length) { sink in
                do {
                    while let part = try await connection.next() {
                        switch part {
                        case .body(let buffer): try await sink(buffer)
                        case .end:
                            if reusable { pool.release(connection, key: key) } else { connection.retire() }
                            return
                        case .head: throw UpstreamError.closedEarly
                        }
                    }
                    throw UpstreamError.closedEarly
                } catch {
                    connection.retire()
                    throw error
                }
            }
            return UpstreamResponse(
                status: Int(responseHead.status.code), headers: responseHead.headers.map { (name: $0.name, value: $0.value) }, body: body)
        } catch {
            connection.retire()
            if connection.timedOut { throw UpstreamError.timedOut }
            throw error
        }
    }
}

/// One upstream connection. Its reader is used by one request at a time: a connection is
/// either leased to exactly one request or sitting in the pool behind the pool's lock.
final class UpstreamConnection: @unchecked Sendable {
    let channel: any Channel
    let writer: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    private var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let retired = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
    let timeout: TimeoutFlag

    init(
        channel: any Channel, writer: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator, timeout: TimeoutFlag
    ) {
        self.channel = channel
        self.writer = writer
        self.iterator = iterator
        self.timeout = timeout
    }

    var timedOut: Bool { timeout.fired.load(ordering: .relaxed) }

    func next() async throws -> HTTPClientResponsePart? { try await iterator.next() }

    /// Ends the connection: its task leaves `executeThenClose`, which closes the channel.
    func retire() {
        let waiter = retired.withLock { state -> CheckedContinuation<Void, Never>? in
            state.done = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func waitUntilRetired() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = retired.withLock { state -> Bool in
                if state.done { return true }
                state.waiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
    }
}

/// Closes a connection whose upstream went quiet for longer than the read timeout.
final class CloseOnIdle: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    let flag: TimeoutFlag

    init(flag: TimeoutFlag) { self.flag = flag }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            flag.fired.store(true, ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Set when a connection was closed for going quiet, so the request fails as a timeout.
final class TimeoutFlag: Sendable {
    let fired = Atomic<Bool>(false)
}
