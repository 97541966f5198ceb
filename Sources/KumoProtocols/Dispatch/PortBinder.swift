/// Opens and closes extra HTTP ports at run time: each load balancer listener gets a real
/// port of its own. Services ask through this; the `Kumo` executable provides the server.
public protocol PortBinder: Sendable {
    /// Serves `handle` on `port` of Kumo's host (0 picks a free one), over TLS when `tls` is
    /// given (its certificates chosen by the client's server name); returns the port bound.
    /// `upgrade` finds where a connection-upgrade request (a WebSocket) goes; its bytes are then
    /// relayed both ways as they are.
    func bind(
        port: Int, label: String, tls: ServerTLS?, handle: @escaping @Sendable (HostRoute.Request) async -> ProtocolResponse,
        upgrade: (@Sendable (HostRoute.Request) async -> UpgradeTarget?)?
    ) async throws -> Int
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
