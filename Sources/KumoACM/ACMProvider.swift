public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// AWS Certificate Manager: certificates issued at once by Kumo's local CA (the DNS validation
/// records are shown, and already satisfied) or imported, kept in the store and presented by
/// load balancer HTTPS listeners (`CertificateSource`).
public final class ACMProvider: ServiceProvider, CertificateSource {
    public let service = "acm"
    let store: Store
    let clock: KumoClock
    private let authority = Mutex<LocalCA?>(nil)
    private let users = Mutex<[any CertificateUsers]>([])
    /// Certificates the edge presents for HTTPS, issued by the local CA as names are asked for.
    private let edgeCertificates = Mutex<[String: ServerCertificate]>([:])

    public init(store: Store, clock: KumoClock) {
        self.store = store
        self.clock = clock
    }

    public var operations: [String: OperationHandler] {
        OperationHandler.table(self, [
            "RequestCertificate": ACMProvider.requestCertificate,
            "ImportCertificate": ACMProvider.importCertificate,
            "DescribeCertificate": ACMProvider.describeCertificate,
            "GetCertificate": ACMProvider.getCertificate,
            "ListCertificates": ACMProvider.listCertificates,
            "DeleteCertificate": ACMProvider.deleteCertificate,
            "AddTagsToCertificate": ACMProvider.addTagsToCertificate,
            "RemoveTagsFromCertificate": ACMProvider.removeTagsFromCertificate,
            "ListTagsForCertificate": ACMProvider.listTagsForCertificate,
        ])
    }

    public func reset() async throws { try await store.clear(tables: Self.tables) }

    /// Load balancers tell ACM which certificates their listeners use.
    public func addUsers(_ u: any CertificateUsers) { users.withLock { $0.append(u) } }

    /// The local CA, made and stored on first use.
    func localCA() async throws -> LocalCA {
        if let ca = authority.withLock({ $0 }) { return ca }
        let now = clock.now
        let row: AuthorityRecord
        do {
            row = try await store.write { db -> AuthorityRecord in
                if let row = try AuthorityRecord.fetchOne(db, key: 1) { return row }
                let ca = try LocalCA.create(now: now)
                let row = AuthorityRecord(id: 1, certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM, created: now)
                try row.insert(db)
                return row
            }
        } catch {
            // Another process (`kumo ca export` beside a running kumo) made it first: use that one.
            guard let made = try await store.read({ db in try AuthorityRecord.fetchOne(db, key: 1) }) else { throw error }
            row = made
        }
        let ca = try LocalCA(certificatePEM: row.certificatePEM, privateKeyPEM: row.privateKeyPEM)
        authority.withLock { $0 = ca }
        return ca
    }

    /// The root certificate users trust (`kumo ca export`), made on first use.
    public func rootCertificatePEM() async throws -> String { try await localCA().certificatePEM }

    public func serverCertificate(arn: String) async -> ServerCertificate? {
        guard let r = try? await store.read({ db in try CertificateRecord.fetchOne(db, key: arn) }), r.status == "ISSUED" else { return nil }
        let chain = r.certificatePEM.hasSuffix("\n") ? r.certificatePEM + r.chainPEM : r.certificatePEM + "\n" + r.chainPEM
        return ServerCertificate(arn: r.arn, chainPEM: chain, privateKeyPEM: r.privateKeyPEM, names: r.nameList)
    }

    /// A certificate for the edge's HTTPS, for one name (a host name or an IP address), issued
    /// by the local CA on first use and kept in memory (an EC P-256 key: quick to make).
    public func edgeCertificate(for names: [String]) async throws -> ServerCertificate {
        let key = names.joined(separator: ",")
        if let known = edgeCertificates.withLock({ $0[key] }) { return known }
        let ca = try await localCA()
        let issued = try ca.issue(names: names, keyAlgorithm: "EC_prime256v1", now: clock.now)
        let certificate = ServerCertificate(
            arn: "kumo:edge:" + key, chainPEM: issued.certificatePEM + ca.certificatePEM, privateKeyPEM: issued.privateKeyPEM, names: names)
        edgeCertificates.withLock { if $0.count > 1000 { $0.removeAll() }; $0[key] = certificate }
        return certificate
    }

    func usersOf(_ arn: String) async -> [String] {
        var all: [String] = []
        for u in users.withLock({ $0 }) { all += await u.users(ofCertificate: arn) }
        return all.sorted()
    }
}

extension AWSError {
    static func acmValidation(_ message: String) -> AWSError { AWSError(code: "ValidationException", message: message) }
    static func acmInvalidArn(_ arn: String) -> AWSError { AWSError(code: "InvalidArnException", message: "String '\(arn)' is not a valid ARN.") }
    static func certificateNotFound(_ arn: String) -> AWSError {
        AWSError(code: "ResourceNotFoundException", message: "Could not find certificate \(arn).")
    }
}
