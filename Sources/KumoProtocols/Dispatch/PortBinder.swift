/// Opens and closes extra HTTP ports at run time: each load balancer listener gets a real
/// port of its own. Services ask through this; the `Kumo` executable provides the server.
public protocol PortBinder: Sendable {
    /// Serves `handle` on `port` of Kumo's host (0 picks a free one), over TLS when `tls` is
    /// given (its certificates chosen by the client's server name); returns the port bound.
    func bind(port: Int, label: String, tls: ServerTLS?, handle: @escaping @Sendable (HostRoute.Request) async -> ProtocolResponse) async throws -> Int
    /// Stops serving a port bound before.
    func unbind(port: Int) async
}
