import HummingbirdCore
public import KumoProtocols
import Logging
import NIOCore
import NIOSSL

/// A child channel that speaks TLS, then hands the decrypted stream to `base` (HTTP/1.1).
struct TLSServerChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let context: NIOSSLContext

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }.flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Base.Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

extension ServerTLS {
    /// A TLS server context that presents the default certificate, or the one that covers the
    /// server name a client asks for (SNI).
    func makeContext() throws -> NIOSSLContext {
        struct Identity: Sendable {
            var chain: [NIOSSLCertificateSource]
            var key: NIOSSLPrivateKeySource
        }
        var identities: [Identity] = []
        for c in certificates {
            identities.append(
                Identity(
                    chain: try NIOSSLCertificate.fromPEMBytes(Array(c.chainPEM.utf8)).map { .certificate($0) },
                    key: .privateKey(try NIOSSLPrivateKey(bytes: Array(c.privateKeyPEM.utf8), format: .pem))))
        }
        guard let first = identities.first else { throw NIOSSLError.failedToLoadCertificate }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: first.chain, privateKey: first.key)
        let tls = self
        let chosen = identities
        configuration.sslContextCallback = { values, promise in
            guard let certificate = tls.certificate(for: values.serverHostname),
                let index = tls.certificates.firstIndex(of: certificate), index > 0
            else { return promise.succeed(.noChanges) }
            var change = NIOSSLContextConfigurationOverride()
            change.certificateChain = chosen[index].chain
            change.privateKey = chosen[index].key
            promise.succeed(change)
        }
        return try NIOSSLContext(configuration: configuration)
    }
}
