import HummingbirdCore
import KumoProtocols
import Logging
import NIOCore
import NIOPosix

/// A child channel whose first request may be a connection upgrade (a WebSocket handshake):
/// then the bytes go to the target `resolve` names and back, as they are; any other request
/// goes on to `base` (HTTP/1.1).
struct UpgradeChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let resolve: @Sendable (HostRoute.Request) async -> UpgradeTarget?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(UpgradeSniffer(resolve: resolve))
        }.flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Base.Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

/// Reads a connection's first request head. An upgrade request is relayed to its target (the
/// HTTP handlers behind never see the connection); anything else is handed on untouched and
/// this handler leaves the pipeline.
final class UpgradeSniffer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State { case reading, connecting, relaying(any Channel), closed }

    let resolve: @Sendable (HostRoute.Request) async -> UpgradeTarget?
    var state = State.reading
    var buffered = ByteBuffer()
    static let headLimit = 64 << 10

    /// `connecting`: for a connection whose upgrade request was already read (by the listener
    /// relay); `connect` then takes it over.
    init(resolve: @escaping @Sendable (HostRoute.Request) async -> UpgradeTarget?, connecting: Bool = false) {
        self.resolve = resolve
        if connecting { state = .connecting }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        switch state {
        case .relaying(let peer):
            peer.writeAndFlush(incoming, promise: nil)
        case .connecting:
            buffered.writeBuffer(&incoming)
        case .closed:
            break
        case .reading:
            buffered.writeBuffer(&incoming)
            let view = buffered.readableBytesView
            guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
                if buffered.readableBytes > Self.headLimit { handOn(context) }
                return
            }
            let headBytes = view[view.startIndex..<end.upperBound]
            guard let request = Self.parse(String(decoding: headBytes, as: UTF8.self), remote: context.remoteAddress?.ipAddress),
                request.header("Upgrade") != nil, request.header("Connection")?.lowercased().contains("upgrade") == true
            else { return handOn(context) }
            buffered.moveReaderIndex(forwardBy: headBytes.count)
            state = .connecting
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let resolve = self.resolve
            Task {
                let target = await resolve(request)
                bound.value.0.connect(target, context: bound.value.1)
            }
        }
    }

    /// Not an upgrade: what was read goes on to the HTTP handlers, and this handler steps out.
    func handOn(_ context: ChannelHandlerContext) {
        let rest = buffered
        buffered = ByteBuffer()
        context.fireChannelRead(wrapInboundOut(rest))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Runs on the channel's event loop (hops there first).
    func connect(_ target: UpgradeTarget?, context: ChannelHandlerContext) {
        guard context.eventLoop.inEventLoop else {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute { bound.value.0.connect(target, context: bound.value.1) }
            return
        }
        guard case .connecting = state else { return }
        guard let target else { return refuse(context, "503 Service Temporarily Unavailable") }
        let client = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { peer in
                peer.eventLoop.makeCompletedFuture { try peer.pipeline.syncOperations.addHandler(RelayHandler(partner: client)) }
            }
            .connect(host: target.host, port: target.port)
            .whenComplete { result in
                let (sniffer, context) = client.value
                switch result {
                case .success(let peer):
                    guard case .connecting = sniffer.state else { peer.close(promise: nil); return }
                    sniffer.state = .relaying(peer)
                    var first = peer.allocator.buffer(string: target.head)
                    first.writeBuffer(&sniffer.buffered)
                    peer.writeAndFlush(first, promise: nil)
                    context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                case .failure:
                    sniffer.refuse(context, "502 Bad Gateway")
                }
            }
    }

    func refuse(_ context: ChannelHandlerContext, _ status: String) {
        state = .closed
        let body = "HTTP/1.1 \(status)\r\nServer: awselb/2.0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: body))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .relaying(let peer) = state { peer.close(promise: nil) }
        state = .closed
        context.fireChannelInactive()
    }

    /// Bytes from the target, written back to the client through this handler's place in the
    /// pipeline (below it: TLS, when the listener has it).
    func relay(_ data: ByteBuffer, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(data), promise: nil)
    }

    /// A request head: method, target, headers.
    static func parse(_ head: String, remote: String?) -> HostRoute.Request? {
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: true)
        guard let first = lines.first else { return nil }
        let parts = first.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append((String(line[..<colon]).trimmingSpaces, String(line[line.index(after: colon)...]).trimmingSpaces))
        }
        return HostRoute.Request(method: String(parts[0]), target: String(parts[1]), headers: headers, remoteAddress: remote, name: "")
    }
}

/// The target side of a relayed connection: its bytes go to the client, its end ends the client's.
final class RelayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let partner: NIOLoopBound<(UpgradeSniffer, ChannelHandlerContext)>

    init(partner: NIOLoopBound<(UpgradeSniffer, ChannelHandlerContext)>) { self.partner = partner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let (sniffer, client) = partner.value
        sniffer.relay(unwrapInboundIn(data), context: client)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let (_, client) = partner.value
        client.close(promise: nil)
        context.fireChannelInactive()
    }
}
