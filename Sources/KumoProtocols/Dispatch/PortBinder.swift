/// Opens and closes extra HTTP ports at run time: each load balancer listener gets a real
/// port of its own. Services ask through this; the `Kumo` executable provides the server.
public protocol PortBinder: Sendable {
    /// Serves `service` on `port` of Kumo's host (0 picks a free one), over TLS when `tls` is
    /// given (its certificates chosen by the client's server name); returns the port bound.
    func bind(port: Int, label: String, tls: ServerTLS?, service: ListenerService) async throws -> Int
    /// Stops serving a port bound before.
    func unbind(port: Int) async
}

/// Where an upgraded connection (a WebSocket) goes: the target, and the request head that opens it.
public struct UpgradeTarget: Sendable {
    public var host: String
    public var port: Int
    /// The request line and headers, ending with the empty line.
    public var head: String

    public init(host: String, port: Int, head: String) {
        self.host = host
        self.port = port
        self.head = head
    }
}

/// What a listener port serves. Every request can go to `handle` (read whole, answered whole or
/// streamed). A request `forward` takes instead goes to its target without leaving the
/// connection's event loop, its answer relayed part by part. `upgrade` finds where a
/// connection-upgrade request (a WebSocket) goes; its bytes are then relayed both ways as they are.
public struct ListenerService: Sendable {
    public var handle: @Sendable (HostRoute.Request) async -> ProtocolResponse
    public var upgrade: (@Sendable (HostRoute.Request) async -> UpgradeTarget?)?
    /// Called on the event loop for each request head; nil sends the request to `handle`.
    public var forward: (@Sendable (HostRoute.Request) -> (any ForwardExchange)?)?
    /// Seconds a client connection may stay idle before it is closed (nil: no limit); asked again
    /// each time, so a changed setting applies to open connections.
    public var idleTimeout: (@Sendable () -> Int?)?

    public init(
        handle: @escaping @Sendable (HostRoute.Request) async -> ProtocolResponse,
        upgrade: (@Sendable (HostRoute.Request) async -> UpgradeTarget?)? = nil,
        forward: (@Sendable (HostRoute.Request) -> (any ForwardExchange)?)? = nil,
        idleTimeout: (@Sendable () -> Int?)? = nil
    ) {
        self.handle = handle
        self.upgrade = upgrade
        self.forward = forward
        self.idleTimeout = idleTimeout
    }
}

/// One request on its way to a target and back, as the relay drives it: where it goes, what
/// the target is sent, and the bookkeeping of its answer. Used on one event loop only.
public protocol ForwardExchange: AnyObject {
    /// The target's address and port (they change when `retarget` picks another).
    var host: String { get }
    var port: Int { get }
    /// The request target (`/path?query`) and headers the target gets (no `Content-Length`:
    /// the relay passes the client's on).
    var requestTarget: String { get }
    var headers: [(name: String, value: String)] { get }
    /// Longest wait for the target's next bytes, in seconds.
    var readTimeout: Int { get }
    /// The connection to the target could not be made: whether another target takes the request.
    func retarget() -> Bool
    /// The target's answer head arrived: the headers to add to it (stickiness cookies). Its
    /// headers are made only if the exchange asks for them.
    func answered(status: Int, headers: () -> [(name: String, value: String)]) -> [(name: String, value: String)]
    /// What the client gets when the target cannot answer (502, 504).
    func failure(_ status: Int) -> ProtocolResponse
    /// The exchange is over: the status the client got and the body bytes sent.
    func finished(status: Int, bodyBytes: Int)
}

/// Headers that belong to one connection and never cross a proxy (RFC 9110 §7.6.1).
public let hopByHopHeaders: Set<String> = [
    "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
    "proxy-connection",
]
