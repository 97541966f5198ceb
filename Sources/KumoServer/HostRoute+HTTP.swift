import HTTPTypes
import KumoProtocols

extension HTTPRequest {
    /// The headers as a list, with `Host` back in it (HTTP types move it into the authority
    /// pseudo-header; SigV4 signs it and host routes read it).
    var headerList: [(name: String, value: String)] {
        (authority.map { [(name: "Host", value: $0)] } ?? []) + headerFields.map { (name: $0.name.rawName, value: $0.value) }
    }
}

extension HostRoute.Request {
    /// A request for a host route (or a listener port) from an HTTP request head and its body.
    init(head: HTTPRequest, remoteAddress: String?, name: String, body: [UInt8]) {
        self.init(method: head.method.rawValue, target: head.path ?? "/", headers: head.headerList, remoteAddress: remoteAddress, name: name, body: body)
    }
}
