import HummingbirdCore
import HTTPTypes
public import KumoProtocols
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// The HTTP ports opened at run time (load balancer listeners). Each one is a child task of
/// this service's discarding task group, so all of them close when Kumo shuts down.
public final class ListenerHost: Service, PortBinder {
    enum Command: Sendable {
        case start(
            port: Int, label: String, tls: NIOSSLContext?, service: ListenerService, bound: CheckedContinuation<Int, any Error>)
    }

    let host: String
    let logger: Logger
    let onBound: @Sendable (String, Int?, Bool) -> Void
    private let commands: AsyncStream<Command>
    private let submit: AsyncStream<Command>.Continuation
    private let stops = Mutex<[Int: AsyncStream<Void>.Continuation]>([:])

    /// `onBound(label, port, tls)` is told of each port opened (nil: closed), for `/_kumo/health`.
    public init(host: String, logger: Logger, onBound: @escaping @Sendable (String, Int?, Bool) -> Void) {
        self.host = host
        self.logger = logger
        self.onBound = onBound
        (commands, submit) = AsyncStream.makeStream(of: Command.self)
    }

    public func bind(port: Int, label: String, tls: ServerTLS?, service: ListenerService) async throws -> Int {
        let context = try tls?.makeContext()
        return try await withCheckedThrowingContinuation { bound in
            if case .terminated = submit.yield(.start(port: port, label: label, tls: context, service: service, bound: bound)) {
                bound.resume(throwing: CancellationError())
            }
        }
    }

    public func unbind(port: Int) async {
        stops.withLock { $0.removeValue(forKey: port) }?.finish()
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await command in commands {
                    guard case .start(let port, let label, let tls, let service, let bound) = command else { continue }
                    group.addTask { await self.serve(port: port, label: label, tls: tls, service: service, bound: bound) }
                }
            } onGracefulShutdown: {
                self.submit.finish()
                for stop in self.stops.withLock({ Array($0.values) }) { stop.finish() }
            }
        }
    }

    func serve(port: Int, label: String, tls: NIOSSLContext?, service: ListenerService, bound: CheckedContinuation<Int, any Error>) async {
        let (stopped, stop) = AsyncStream.makeStream(of: Void.self)
        let reported = Once()
        let channel = RelayChannel(service: service, label: label)
        // A listener closed by its deletion is cancelled; the server would log that as an error.
        var quiet = self.logger
        quiet.logLevel = .critical
        let logger = quiet
        let host = self.host
        let onRunning: @Sendable (any Channel) async -> Void = { channel in
            let port = channel.localAddress?.port ?? 0
            reported.mark()
            self.stops.withLock { $0[port] = stop }
            self.onBound(label, port, tls != nil)
            bound.resume(returning: port)
        }
        let configuration = ServerConfiguration(address: .hostname(host, port: port), backlog: 1024)
        let run: @Sendable () async throws -> Void = {
            func serve(_ child: some ServerChildChannel) async throws {
                try await Server(
                    childChannelSetup: child, configuration: configuration, onServerRunning: onRunning,
                    eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger
                ).run()
            }
            switch (tls, service.upgrade) {
            case (let tls?, let upgrade?): try await serve(TLSServerChannel(base: UpgradeChannel(base: channel, resolve: upgrade), context: tls))
            case (let tls?, nil): try await serve(TLSServerChannel(base: channel, context: tls))
            case (nil, let upgrade?): try await serve(UpgradeChannel(base: channel, resolve: upgrade))
            case (nil, nil): try await serve(channel)
            }
        }
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                do { try await run() } catch {
                    if !reported.marked { bound.resume(throwing: error) }
                }
            }
            tasks.addTask { for await _ in stopped {} }
            await tasks.next()
            tasks.cancelAll()
        }
        onBound(label, nil, false)
    }
}

/// Set once a port is bound, so a later failure does not resume its continuation twice.
final class Once: Sendable {
    private let flag = Atomic<Bool>(false)
    func mark() { flag.store(true, ordering: .sequentiallyConsistent) }
    var marked: Bool { flag.load(ordering: .sequentiallyConsistent) }
}

/// A listener port's child channel: the byte relay (for a service that forwards), then NIO's
/// HTTP/1.1 server handlers and the relay that takes the requests the byte relay hands on.
struct RelayChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
    }

    let service: ListenerService
    let label: String

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let relaysBytes = service.forward != nil
            try channel.pipeline.syncOperations.addHandler(TurnEndFlush(), position: .first)
            if relaysBytes { try channel.pipeline.syncOperations.addHandler(ByteRelay(service: service, label: label)) }
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true, withOutboundHeaderValidation: false)
            try channel.pipeline.syncOperations.addHandler(ListenerRelay(service: service, label: label, behindByteRelay: relaysBytes))
            return Value(channel: channel)
        }
    }

    /// Lasts as long as the connection; a listener that closes (cancellation) closes it.
    /// Graceful shutdown reaches the HTTP handlers as a quiesce event: they close the
    /// connection once its current answer is out.
    func handle(value: Value, logger: Logger) async {
        await withTaskCancellationHandler {
            try? await value.channel.closeFuture.get()
        } onCancel: {
            value.channel.close(promise: nil)
        }
    }
}
