import HummingbirdCore
public import KumoProtocols
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// A child channel that speaks TLS, then hands the decrypted stream to `base` (HTTP/1.1).
struct TLSServerChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let context: NIOSSLContext

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        channel.eventLoop.makeCompletedFuture {
            try SecureConnections.addTLS(context, to: channel.pipeline.syncOperations, position: .last)
        }.flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Base.Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

/// A child channel for a port that speaks both: a client that opens with a TLS handshake gets
/// TLS, any other gets plain HTTP (as the edge port does for `http://` and `https://` URLs).
struct EitherTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let tls: EdgeTLS

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(TLSSniffer(tls: tls), position: .first)
        }.flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Base.Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

/// Looks at a connection's first byte: a TLS handshake record (0x16) puts a TLS handler in
/// front of HTTP; then it steps out of the pipeline.
final class TLSSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let tls: EdgeTLS

    init(tls: EdgeTLS) { self.tls = tls }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if buffer.readableBytes > 0, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0x16 {
            guard let context = tls.context else {
                ctx.close(promise: nil)
                return
            }
            do {
                try SecureConnections.addTLS(context, to: ctx.pipeline.syncOperations, position: .after(self))
            } catch {
                ctx.fireErrorCaught(error)
                return
            }
        }
        ctx.fireChannelRead(data)
        ctx.pipeline.syncOperations.removeHandler(context: ctx, promise: nil)
    }
}

/// The server connections that speak TLS, by channel: a handler asks here, from any thread,
/// instead of looking through the pipeline on the channel's event loop.
enum SecureConnections {
    private static let channels = Mutex<Set<ObjectIdentifier>>([])

    static func contains(_ channel: any Channel) -> Bool { channels.withLock { $0.contains(ObjectIdentifier(channel)) } }

    /// Puts a TLS server handler in the pipeline at `position`, and marks the connection as one that speaks TLS.
    static func addTLS(_ context: NIOSSLContext, to pipeline: ChannelPipeline.SynchronousOperations, position: ChannelPipeline.SynchronousOperations.Position) throws {
        try pipeline.addHandler(NIOSSLServerHandler(context: context), position: position)
        try pipeline.addHandler(Mark(), position: position)
    }

    /// In the pipeline of a TLS connection for as long as it is open.
    final class Mark: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny

        func handlerAdded(context: ChannelHandlerContext) {
            let id = ObjectIdentifier(context.channel)
            _ = SecureConnections.channels.withLock { $0.insert(id) }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            let id = ObjectIdentifier(context.channel)
            _ = SecureConnections.channels.withLock { $0.remove(id) }
        }
    }
}

/// Certificates turned into what the TLS library presents, once per certificate.
final class TLSIdentities: Sendable {
    struct Identity: Sendable {
        var chain: [NIOSSLCertificateSource]
        var key: NIOSSLPrivateKeySource
    }

    private let cache = Mutex<[String: Identity]>([:])

    func identity(_ c: ServerCertificate) throws -> Identity {
        let key = c.arn + "\n" + c.names.joined(separator: ",")
        if let known = cache.withLock({ $0[key] }) { return known }
        let made = Identity(
            chain: try NIOSSLCertificate.fromPEMBytes(Array(c.chainPEM.utf8)).map { .certificate($0) },
            key: .privateKey(try NIOSSLPrivateKey(bytes: Array(c.privateKeyPEM.utf8), format: .pem)))
        cache.withLock { if $0.count > 4096 { $0.removeAll() }; $0[key] = made }
        return made
    }
}

extension ServerTLS {
    /// A TLS server context that presents the default certificate, or the one that covers the
    /// server name a client asks for (SNI).
    func makeContext() throws -> NIOSSLContext {
        guard let first = certificates.first else { throw NIOSSLError.failedToLoadCertificate }
        let tls = self
        return try Self.context(defaultCertificate: first) { name in tls.certificate(for: name) }
    }

    /// A TLS server context whose certificate for each server name `resolve` finds as clients
    /// connect (nil: the default).
    static func context(
        defaultCertificate: ServerCertificate, resolve: @escaping @Sendable (String) async -> ServerCertificate?
    ) throws -> NIOSSLContext {
        let identities = TLSIdentities()
        let first = try identities.identity(defaultCertificate)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: first.chain, privateKey: first.key)
        configuration.sslContextCallback = { values, promise in
            guard let name = values.serverHostname else { return promise.succeed(.noChanges) }
            Task {
                guard let certificate = await resolve(name), certificate != defaultCertificate,
                    let identity = try? identities.identity(certificate)
                else { return promise.succeed(.noChanges) }
                var change = NIOSSLContextConfigurationOverride()
                change.certificateChain = identity.chain
                change.privateKey = identity.key
                promise.succeed(change)
            }
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// The edge port's HTTPS: the default certificate for clients that name no server, and for the
/// others the certificate `resolve` finds for the name they ask for. Installed once Kumo is
/// ready (making the certificate authority is kept off the start-up path); until then a client
/// that opens with a TLS handshake is disconnected.
public final class EdgeTLS: Sendable {
    private let installed = Mutex<NIOSSLContext?>(nil)

    public init() {}

    public func install(defaultCertificate: ServerCertificate, resolve: @escaping @Sendable (String) async -> ServerCertificate?) throws {
        let context = try ServerTLS.context(defaultCertificate: defaultCertificate, resolve: resolve)
        installed.withLock { $0 = context }
    }

    var context: NIOSSLContext? { installed.withLock { $0 } }
}
