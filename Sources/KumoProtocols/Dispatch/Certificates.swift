/// A server certificate with its private key, as a TLS listener presents it (ACM's certificates).
public struct ServerCertificate: Sendable, Equatable {
    public var arn: String
    /// The leaf first, then its chain, PEM-encoded.
    public var chainPEM: String
    public var privateKeyPEM: String
    /// The DNS names it covers (`*.example.com` covers one label).
    public var names: [String]

    public init(arn: String, chainPEM: String, privateKeyPEM: String, names: [String]) {
        self.arn = arn
        self.chainPEM = chainPEM
        self.privateKeyPEM = privateKeyPEM
        self.names = names
    }

    /// Whether this certificate covers `host` (case-insensitive, a wildcard for one label).
    public func covers(_ host: String) -> Bool {
        let host = host.lowercased()
        return names.contains { name in
            let name = name.lowercased()
            if name.hasPrefix("*.") {
                guard let dot = host.firstIndex(of: ".") else { return false }
                return host[dot...] == name.dropFirst()
            }
            return name == host
        }
    }
}

/// Where TLS listeners get their certificates: ACM, by ARN, for the owning account.
public protocol CertificateSource: Sendable {
    func serverCertificate(arn: String) async -> ServerCertificate?
}

/// Who uses certificates (load balancer listeners): ACM's `InUseBy` and its refusal to
/// delete a certificate in use.
public protocol CertificateUsers: Sendable {
    func users(ofCertificate arn: String) async -> [String]
}

/// What a TLS port presents: the default certificate first, the others chosen by SNI.
public struct ServerTLS: Sendable, Equatable {
    public var certificates: [ServerCertificate]

    public init(certificates: [ServerCertificate]) { self.certificates = certificates }

    /// The certificate for a client's server name: the first that covers it, else the default.
    public func certificate(for serverName: String?) -> ServerCertificate? {
        guard let serverName else { return certificates.first }
        return certificates.first { $0.covers(serverName) } ?? certificates.first
    }
}
