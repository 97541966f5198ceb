import KumoProtocols
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One request on its way to a target: the parts to write (kept for one retry while small),
/// the connection once made, and what came back.
final class Forwarding {
    let exchange: any ForwardExchange
    let clientHead: HTTPRequestHead
    var parts: [HTTPClientRequestPart] = []
    /// The next part to write to the current connection.
    var next = 0
    /// Whether every part is still kept, so the request can be sent again.
    var replayable = true
    private var kept = 0
    var target: (any Channel)?
    var key = ""
    var reused = false
    var retried = false
    var requestEnded = false
    var answered = false
    var targetKeepAlive = true
    /// Whether the target's connection reads (off while the client cannot take more).
    var targetReads = true
    var status = 0
    var bodyBytes = 0
    var lastRead = NIODeadline.now()

    static let replayLimit = 64 << 10

    init(exchange: any ForwardExchange, clientHead: HTTPRequestHead) {
        self.exchange = exchange
        self.clientHead = clientHead
        var headers = HTTPHeaders(exchange.headers.map { ($0.name, $0.value) })
        if let length = clientHead.headers.first(name: "content-length") {
            headers.add(name: "Content-Length", value: length)
        } else if clientHead.method == .POST || clientHead.method == .PUT || clientHead.method == .PATCH {
            headers.add(name: "Content-Length", value: "0")
        }
        parts.append(.head(HTTPRequestHead(version: .http1_1, method: clientHead.method, uri: exchange.requestTarget, headers: headers)))
    }

    func queue(_ part: HTTPClientRequestPart) {
        if case .body(.byteBuffer(let buffer)) = part {
            kept += buffer.readableBytes
            if kept > Self.replayLimit { replayable = false }
        }
        parts.append(part)
    }
}

/// A relay, as its target connections see it.
protocol TargetOwner: AnyObject {
    /// What the target's connection reads: HTTP response parts, or bytes.
    associatedtype Part
    func fromTarget(_ part: Part, channel: any Channel)
    func flushClient()
    func targetWritable(_ writable: Bool, channel: any Channel)
    func targetClosed(_ channel: any Channel)
}

/// The target side of a relayed request: what the target sends goes to the relay that owns the
/// connection; a pooled connection that closes leaves the pool.
final class TargetHandler<Owner: TargetOwner>: ChannelInboundHandler {
    typealias InboundIn = Owner.Part
    weak var owner: Owner?
    let key: String
    let pool: TargetPool

    init(key: String, pool: TargetPool) {
        self.key = key
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let owner { owner.fromTarget(unwrapInboundIn(data), channel: context.channel) } else { context.close(promise: nil) }
    }

    func channelReadComplete(context: ChannelHandlerContext) { owner?.flushClient() }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.targetWritable(context.channel.isWritable, channel: context.channel)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let owner { owner.targetClosed(context.channel) } else { pool.forget(context.channel, key: key) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Idle keep-alive connections to targets, one pool per event loop, used only on its loop.
final class TargetPool: @unchecked Sendable {
    private var idle: [String: [any Channel]] = [:]
    static let maxIdlePerTarget = 64
    private static let pools = Mutex<[ObjectIdentifier: TargetPool]>([:])

    static func pool(for loop: any EventLoop) -> TargetPool {
        pools.withLock { all in
            if let pool = all[ObjectIdentifier(loop)] { return pool }
            let pool = TargetPool()
            all[ObjectIdentifier(loop)] = pool
            return pool
        }
    }

    func lease(_ key: String) -> (any Channel)? {
        while let channel = idle[key]?.popLast() {
            if channel.isActive { return channel }
        }
        return nil
    }

    func release(_ channel: any Channel, key: String) {
        guard channel.isActive, idle[key, default: []].count < Self.maxIdlePerTarget else { return channel.close(promise: nil) }
        idle[key, default: []].append(channel)
    }

    func forget(_ channel: any Channel, key: String) {
        idle[key]?.removeAll { $0 === channel }
    }

    /// Opens a connection to a target from `loop` (Nagle off, ten seconds to connect), `setup`
    /// filling its pipeline; the result comes on `loop`.
    static func open(host: String, port: Int, on loop: any EventLoop, setup: @escaping @Sendable (any Channel) throws -> Void) -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TurnEndFlush())
                    try setup(channel)
                }
            }
            .connect(host: host, port: port)
            .hop(to: loop)
    }
}
