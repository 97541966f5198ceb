import Crypto
import KumoCore
import SwiftASN1
import X509
import _CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Kumo's local certificate authority: one EC P-256 root made on first start and kept in the
/// store, which issues ACM's certificates. Users trust its root (`kumo ca export`) to make
/// HTTPS to load balancers verify.
struct LocalCA: Sendable {
    static let commonName = "Kumo Local CA"
    let key: Certificate.PrivateKey
    let certificate: Certificate
    let certificatePEM: String
    let privateKeyPEM: String

    init(certificatePEM: String, privateKeyPEM: String) throws {
        certificate = try Certificate(pemEncoded: certificatePEM)
        key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// A new root, valid ten years from an hour ago.
    static func create(now: Date) throws -> LocalCA {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            OrganizationName("Kumo")
            CommonName(commonName)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: key.publicKey)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey, notValidBefore: now - 3600,
            notValidAfter: now + 10 * 365 * 86400, issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: key)
        return try LocalCA(certificatePEM: certificate.serializeAsPEM().pemString + "\n", privateKeyPEM: key.serializeAsPEM().pemString + "\n")
    }

    /// A certificate as ACM issues it.
    struct Issued: Sendable {
        var certificatePEM: String
        var privateKeyPEM: String
        var serial: String
        var notBefore: Date
        var notAfter: Date
    }

    /// The key algorithms ACM offers (`RequestCertificate` KeyAlgorithm) and their names in answers.
    static let keyAlgorithms = [
        "RSA_2048": "RSA-2048", "RSA_3072": "RSA-3072", "RSA_4096": "RSA-4096",
        "EC_prime256v1": "EC-prime256v1", "EC_secp384r1": "EC-secp384r1", "EC_secp521r1": "EC-secp521r1",
    ]

    static func makeKey(_ algorithm: String) throws -> Certificate.PrivateKey {
        switch algorithm {
        case "RSA_3072": Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits3072))
        case "RSA_4096": Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        case "EC_prime256v1": Certificate.PrivateKey(P256.Signing.PrivateKey())
        case "EC_secp384r1": Certificate.PrivateKey(P384.Signing.PrivateKey())
        case "EC_secp521r1": Certificate.PrivateKey(P521.Signing.PrivateKey())
        default: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        }
    }

    /// A server certificate for `names` (the first is the subject's common name), valid 395 days as ACM's are.
    func issue(names: [String], keyAlgorithm: String, now: Date) throws -> Issued {
        let leafKey = try Self.makeKey(keyAlgorithm)
        let subject = try DistinguishedName { CommonName(names[0]) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames(names.map { name in CIDR(name).map { .ipAddress(ASN1OctetString(contentBytes: $0.bytes[...])) } ?? .dnsName(name) })
            SubjectKeyIdentifier(hash: leafKey.publicKey)
            AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        }
        let notBefore = now - 60, notAfter = now + 395 * 86400
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: leafKey.publicKey, notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: key)
        return Issued(
            certificatePEM: try leaf.serializeAsPEM().pemString + "\n", privateKeyPEM: try leafKey.serializeAsPEM().pemString + "\n",
            serial: Self.serial(leaf.serialNumber), notBefore: notBefore, notAfter: notAfter)
    }

    /// ACM's form of a serial number: lower-case hex bytes joined by colons.
    static func serial(_ number: Certificate.SerialNumber) -> String { Hashing.colonHex(number.bytes) }
}
