public import KumoCore
public import Logging
public import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif
public import ServiceLifecycle

/// The authoritative DNS server over UDP and TCP: answers from Route 53's hosted zones.
public struct DNSServer: Service {
    public typealias Channel = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>
    public typealias TCPChannel = NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    let channels: [Channel]
    let tcp: TCPChannel?
    let source: any DNSAnswerSource
    let logger: Logger
    /// Where queries for names outside Kumo's zones go (`--dns-upstream`); nil answers them REFUSED.
    let upstream: SocketAddress?

    /// The TCP listener on the same port as the UDP one (resolvers retry truncated answers there).
    public static func bindTCP(host: String, port: Int) async throws -> TCPChannel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child) }
            }
    }

    /// UDP and TCP on the same port. For port 0 the TCP port is picked first and UDP takes the same
    /// number (tried again with another port when that number is taken for UDP), so a free port
    /// always serves both; for a given port, TCP is left out (nil) when only it is taken.
    public static func bindBoth(host: String, port: Int) async throws -> (udp: [Channel], tcp: TCPChannel?) {
        if port == 0 {
            for _ in 0..<8 {
                let tcp = try await bindTCP(host: host, port: 0)
                if let udp = try? await bind(host: host, port: tcp.channel.localAddress?.port ?? 0) { return (udp, tcp) }
                try? await tcp.channel.close()
            }
        }
        let udp = try await bind(host: host, port: port)
        return (udp, try? await bindTCP(host: host, port: udp[0].channel.localAddress?.port ?? port))
    }

    /// Binds the UDP port, once per event loop (SO_REUSEPORT: the kernel spreads queries over
    /// the sockets, so every core answers); the caller learns the port before the server runs.
    public static func bind(host: String, port: Int) async throws -> [Channel] {
        func one(_ port: Int) async throws -> Channel {
            try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .channelOption(ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                // Up to 16 queries per receive call (recvmmsg) when they queue up under load.
                .channelOption(.datagramVectorReadMessageCount, value: 16)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(QueriesAnsweredNow())
                        return try Channel(wrappingChannelSynchronously: channel)
                    }
                }
        }
        let first = try await one(port)
        var all = [first]
        let bound = first.channel.localAddress?.port ?? port
        for _ in 1..<max(1, System.coreCount) {
            guard let more = try? await one(bound) else { break }
            all.append(more)
        }
        return all
    }

    public init(channels: [Channel], tcp: TCPChannel? = nil, source: any DNSAnswerSource, upstream: SocketAddress? = nil, logger: Logger) {
        self.channels = channels
        self.tcp = tcp
        self.source = source
        self.upstream = upstream
        self.logger = logger
    }

    public func run() async throws {
        let channels = self.channels
        let tcp = self.tcp
        // From now on each UDP socket answers what is in memory on its event loop.
        for channel in channels {
            try await channel.channel.eventLoop.submit {
                try channel.channel.pipeline.syncOperations.handler(type: QueriesAnsweredNow.self).server = self
            }.get()
        }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                for channel in channels {
                    group.addTask { try await serve(udp: channel) }
                }
                if let tcp {
                    group.addTask {
                        try await tcp.executeThenClose { connections in
                            try await withThrowingDiscardingTaskGroup { conns in
                                for try await connection in connections {
                                    conns.addTask { await serve(connection) }
                                }
                            }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            for channel in channels { channel.channel.close(promise: nil) }
            tcp?.channel.close(promise: nil)
        }
    }

    /// One UDP socket: its queries answered concurrently, at most `concurrency` at a time.
    func serve(udp channel: Channel) async throws {
                    try await channel.executeThenClose { inbound, outbound in
                        // Queries are answered concurrently, at most `concurrency` at a time.
                        try await withThrowingTaskGroup(of: Void.self) { queries in
                            var running = 0
                            for try await envelope in inbound {
                                if running >= Self.concurrency {
                                    try await queries.next()
                                    running -= 1
                                }
                                running += 1
                                queries.addTask {
                                    guard let reply = await respond(Array(buffer: envelope.data), transport: .udp, from: envelope.remoteAddress.ipAddress)
                                    else { return }
                                    try? await outbound.write(
                                        AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: ByteBuffer(bytes: reply)))
                                }
                            }
                            try await queries.waitForAll()
                        }
                    }
    }

    enum Transport { case udp, tcp }
    static let concurrency = 64

    /// One TCP connection: two-byte length-prefixed messages, pipelined; its errors stay with it.
    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var pending = ByteBuffer()
                for try await var chunk in inbound {
                    pending.writeBuffer(&chunk)
                    while let length = pending.getInteger(at: pending.readerIndex, as: UInt16.self),
                        pending.readableBytes >= 2 + Int(length)
                    {
                        pending.moveReaderIndex(forwardBy: 2)
                        let message = Array(pending.readSlice(length: Int(length))!.readableBytesView)
                        guard let reply = await respond(message, transport: .tcp, from: connection.channel.remoteAddress?.ipAddress)
                        else { return }
                        var out = ByteBuffer()
                        out.writeInteger(UInt16(reply.count))
                        out.writeBytes(reply)
                        try await outbound.write(out)
                    }
                    guard pending.readableBytes < 70_000 else { return }
                    pending.discardReadBytes()
                }
            }
        } catch {
            logger.debug("DNS TCP connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The answer to one query, or nil for input that is not a query worth answering.
    func respond(_ bytes: [UInt8], transport: Transport = .udp, from address: String? = nil) async -> [UInt8]? {
        switch respondNow(bytes, transport: transport, from: address) {
        case .reply(let reply, _): return reply
        case .drop: return nil
        case .ask(let question):
            let answer = await source.answer(name: question.name, type: question.type, client: question.client)
            if case .refused = answer, let upstream, let forwarded = await forward(bytes, to: upstream) { return forwarded }
            return question.reply(answer)
        }
    }

    /// What becomes of a query without waiting: its reply, nothing (not a query), or a question
    /// for `source.answer` (what is not in memory, and anything forwarded upstream). A reply
    /// with a version is the same for every client while the source's `answersVersion` is that.
    enum Outcome {
        case reply([UInt8], version: UInt64? = nil)
        case drop
        case ask(Question)
    }

    /// One question, with the reply it will go out in.
    struct Question {
        var message: DNSMessage
        var question: DNSMessage.Question
        var name: String
        var type: String
        var client: DNSClient
        var limit: Int

        func reply(_ answer: DNSAnswer) -> [UInt8] {
            var reply = message
            switch answer {
            case .refused:
                reply.flags &= ~0x0400
                return DNSServer.with(reply, rcode: 5)
            case .records(let sets):
                // Names are case-insensitive; the owner name of the answer echoes the question's case.
                reply.answers = sets.flatMap(DNSServer.records).map { r in
                    var r = r
                    if r.name.lowercased() == name { r.name = question.name }
                    return r
                }
                return reply.serialized(limit: limit)
            case .referral(let ns, let glue):
                // Not authoritative below a delegation: the name servers, and their addresses when known.
                reply.flags &= ~0x0400
                reply.authority = DNSServer.records(ns)
                reply.additional = glue.flatMap(DNSServer.records)
                return reply.serialized(limit: limit)
            case .noData(let soa):
                reply.authority = DNSServer.records(soa)
                return reply.serialized(limit: limit)
            case .nxDomain(let soa):
                reply.authority = DNSServer.records(soa)
                return DNSServer.with(reply, rcode: 3, limit: limit)
            }
        }
    }

    func respondNow(_ bytes: [UInt8], transport: Transport = .udp, from address: String? = nil) -> Outcome {
        guard let query = try? DNSMessage.parse(bytes), !query.isResponse else { return .drop }
        var reply = DNSMessage(id: query.id, flags: 0x8000 | (query.flags & 0x7900), questions: query.questions)
        reply.hasEDNS = query.hasEDNS
        reply.clientSubnet = query.clientSubnet
        let client = DNSClient(
            address: address, subnet: query.clientSubnet?.addressText, subnetPrefix: Int(query.clientSubnet?.sourcePrefix ?? 0))
        guard query.opcode == 0 else { return .reply(Self.with(reply, rcode: 4)) }
        guard query.questions.count == 1, let q = query.questions.first else { return .reply(Self.with(reply, rcode: 1)) }
        let typeName = DNSType.name(q.type) ?? (q.type == 255 ? "ANY" : "TYPE\(q.type)")
        reply.flags |= 0x0400  // authoritative
        let limit = transport == .tcp ? 65_535 : query.hasEDNS ? min(query.udpSize, 4096) : 512
        let question = Question(message: reply, question: q, name: q.name.lowercased(), type: typeName, client: client, limit: limit)
        guard let now = source.answerNow(name: question.name, type: typeName, client: client) else { return .ask(question) }
        if case .refused = now.answer, upstream != nil { return .ask(question) }
        return .reply(question.reply(now.answer), version: now.version)
    }

    /// Asks the upstream resolver over UDP and relays its answer as it is; nil when it does not
    /// answer within two seconds (the client then gets REFUSED).
    func forward(_ query: [UInt8], to upstream: SocketAddress) async -> [UInt8]? {
        do {
            let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: upstream.protocol == .inet6 ? "::" : "0.0.0.0", port: 0) { channel in
                    channel.eventLoop.makeCompletedFuture { try Channel(wrappingChannelSynchronously: channel) }
                }
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(AddressedEnvelope(remoteAddress: upstream, data: ByteBuffer(bytes: query)))
                return try await withThrowingTaskGroup(of: [UInt8]?.self) { race in
                    race.addTask {
                        for try await envelope in inbound where envelope.remoteAddress == upstream {
                            let reply = Array(buffer: envelope.data)
                            if reply.count >= 2, reply[0] == query[0], reply[1] == query[1] { return reply }
                        }
                        return nil
                    }
                    race.addTask {
                        try await Task.sleep(for: .seconds(2))
                        return nil
                    }
                    let first = try await race.next() ?? nil
                    race.cancelAll()
                    return first
                }
            }
        } catch {
            logger.debug("DNS upstream did not answer", metadata: ["upstream": "\(upstream)", "error": "\(error)"])
            return nil
        }
    }

    static func with(_ message: DNSMessage, rcode: UInt16, limit: Int = 512) -> [UInt8] {
        var m = message
        m.flags = (m.flags & ~0xF) | rcode
        return m.serialized(limit: limit)
    }

    static func records(_ set: DNSRecordSet) -> [DNSMessage.Record] {
        guard let type = DNSType.numbers[set.type] else { return [] }
        return set.values.compactMap { v in
            DNSType.rdata(type: set.type, value: v).map { DNSMessage.Record(name: set.name, type: type, klass: 1, ttl: set.ttl, data: $0) }
        }
    }
}

/// Answers a UDP query on the socket's event loop when the answer is in memory (the usual case:
/// the zones' snapshot is cached), with one flush per batch of reads; a query that needs waiting
/// goes on to the server's task. Replies that are the same for every client are kept
/// (`DNSReplyCache`), so a repeated question is answered without parsing or building anything.
final class QueriesAnsweredNow: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias InboundOut = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    /// Set when the server runs; until then every query goes on.
    var server: DNSServer?
    private var replies = DNSReplyCache()
    private var unflushed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let server else { return context.fireChannelRead(data) }
        let envelope = unwrapInboundIn(data)
        let key = DNSReplyCache.Key(envelope.data)
        if let key, let reply = replies.reply(to: envelope.data, key: key, version: server.source.answersVersion, allocator: context.channel.allocator) {
            send(reply, to: envelope.remoteAddress, context: context)
            return
        }
        switch server.respondNow(Array(buffer: envelope.data), transport: .udp, from: envelope.remoteAddress.ipAddress) {
        case .reply(let reply, let version):
            if let key, let version { replies.keep(reply, for: key, version: version) }
            send(context.channel.allocator.buffer(bytes: reply), to: envelope.remoteAddress, context: context)
        case .drop:
            break
        case .ask:
            context.fireChannelRead(data)
        }
    }

    private func send(_ reply: ByteBuffer, to address: SocketAddress, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: reply)), promise: nil)
        unflushed = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if unflushed {
            unflushed = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }
}
