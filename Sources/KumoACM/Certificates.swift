import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import Crypto
import SwiftASN1
import X509
import _CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ACMProvider {
    static let domainPattern = "^(\\*\\.)?(((?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\\.)+((?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])$"

    /// A fully qualified domain name, optionally a wildcard for its leftmost label.
    static func validDomain(_ name: String) -> Bool {
        guard (1...253).contains(name.utf8.count) else { return false }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" { labels.removeFirst() }
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { c in (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A) || c == 0x2D }
        }
    }

    func record(_ db: Database, _ arn: String, account: String) throws -> CertificateRecord {
        guard ARN(arn)?.service == "acm" else { throw AWSError.acmInvalidArn(arn) }
        guard let r = try CertificateRecord.fetchOne(db, key: arn), r.accountId == account else { throw AWSError.certificateNotFound(arn) }
        return r
    }

    static func newArn(region: String, account: String) -> String {
        ARN(service: "acm", region: region, accountId: account, resource: "certificate/" + UUID().uuidString.lowercased()).description
    }

    static func tagList(_ value: ShapeValue?) -> [String: String] {
        var tags: [String: String] = [:]
        for t in value?.list ?? [] { if let k = t["Key"]?.string { tags[k] = t["Value"]?.string ?? "" } }
        return tags
    }

    // MARK: issuing and importing

    func requestCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let domain = (input["DomainName"]?.string ?? "").lowercased()
        guard Self.validDomain(domain) else {
            throw AWSError.acmValidation(
                "1 validation error detected: Value '\(domain)' at 'domainName' failed to satisfy constraint: Member must satisfy regular expression pattern: \(Self.domainPattern)")
        }
        var names = [domain]
        for san in (input["SubjectAlternativeNames"]?.list ?? []).compactMap({ $0.string?.lowercased() }) {
            guard Self.validDomain(san) else {
                throw AWSError.acmValidation(
                    "1 validation error detected: Value '[\(san)]' at 'subjectAlternativeNames' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: \(Self.domainPattern)]")
            }
            if !names.contains(san) { names.append(san) }
        }
        guard names.count <= 100 else {
            throw AWSError(code: "LimitExceededException", message: "Cannot request a certificate with more than 100 domain names.")
        }
        let algorithm = input["KeyAlgorithm"]?.string ?? "RSA_2048"
        guard let algorithmName = LocalCA.keyAlgorithms[algorithm] else {
            throw AWSError.acmValidation(
                "1 validation error detected: Value '\(algorithm)' at 'keyAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, EC_prime256v1, EC_secp384r1, EC_secp521r1]")
        }
        let account = call.context.accountId, region = call.context.region
        let token = input["IdempotencyToken"]?.string
        let now = clock.now
        // The same token within an hour with the same names gives the same certificate.
        if let token {
            let earlier = try await store.read { db in
                try CertificateRecord.filter(Column("accountId") == account && Column("region") == region && Column("idempotencyToken") == token)
                    .fetchAll(db)
            }
            if let same = earlier.first(where: { $0.nameList == names && now.timeIntervalSince($0.created) < 3600 * clock.timeScale }) {
                return ["CertificateArn": .string(same.arn)]
            }
        }
        let ca = try await localCA()
        let issued = try ca.issue(names: names, keyAlgorithm: algorithm, now: now)
        let arn = Self.newArn(region: region, account: account)
        let record = CertificateRecord(
            arn: arn, accountId: account, region: region, domainName: domain, names: CertificateRecord.encode(names), type: "AMAZON_ISSUED",
            status: "ISSUED", keyAlgorithm: algorithmName, certificatePEM: issued.certificatePEM, chainPEM: ca.certificatePEM,
            privateKeyPEM: issued.privateKeyPEM, serial: issued.serial, subject: "CN=\(domain)", issuer: LocalCA.commonName,
            notBefore: issued.notBefore, notAfter: issued.notAfter, created: now, issuedAt: now, importedAt: nil, idempotencyToken: token,
            tags: CertificateRecord.encode(Self.tagList(input["Tags"])),
            transparencyLogging: input["Options"]?["CertificateTransparencyLoggingPreference"]?.string ?? "ENABLED")
        try await store.write { db in try record.insert(db) }
        return ["CertificateArn": .string(arn)]
    }

    /// PEM text from a blob member; the CLI's `fileb://` and boto3's bytes both arrive as bytes.
    static func pem(_ value: ShapeValue?) -> String? {
        switch value {
        case .blob(let b)?: String(decoding: b, as: UTF8.self)
        case .string(let s)?: s
        default: nil
        }
    }

    func importCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        guard let certificateText = Self.pem(input["Certificate"]), let keyText = Self.pem(input["PrivateKey"]) else {
            throw AWSError.acmValidation("The certificate and the private key are required.")
        }
        let certificates = try Self.certificates(in: certificateText)
        guard certificates.count == 1, let certificate = certificates.first else {
            throw AWSError.acmValidation("The certificate field must contain exactly one certificate in PEM format.")
        }
        guard let key = try? Certificate.PrivateKey(pemEncoded: keyText) else {
            throw AWSError.acmValidation("The private key is not supported or could not be parsed.")
        }
        guard key.publicKey == certificate.publicKey else {
            throw AWSError.acmValidation("The private key does not match the public key in the certificate.")
        }
        let chainText = Self.pem(input["CertificateChain"]) ?? ""
        let chain = chainText.isEmpty ? [] : try Self.certificates(in: chainText)
        let sans = (try? certificate.extensions.subjectAlternativeNames)??.compactMap { name -> String? in
            if case .dnsName(let n) = name { return n.lowercased() }
            return nil
        } ?? []
        let commonName = certificate.subject.description.split(separator: ",").first { $0.hasPrefix("CN=") }.map { String($0.dropFirst(3)) }
        guard let domain = commonName?.lowercased() ?? sans.first else {
            throw AWSError.acmValidation("The certificate names no domain (no common name and no DNS subject alternative name).")
        }
        var allNames = [domain]
        for s in sans where !allNames.contains(s) { allNames.append(s) }
        let names = allNames
        let algorithm = Self.keyAlgorithm(certificate.publicKey)
        let account = call.context.accountId, region = call.context.region
        let now = clock.now
        let reimport = input["CertificateArn"]?.string
        let arn = reimport ?? Self.newArn(region: region, account: account)
        let tags = Self.tagList(input["Tags"])
        if reimport != nil, !tags.isEmpty {
            throw AWSError.acmValidation("Tags cannot be specified when reimporting a certificate.")
        }
        let chainPEM = try chain.map { try $0.serializeAsPEM().pemString + "\n" }.joined()
        let certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
        try await store.write { db in
            var created = now
            var keptTags = tags
            if let reimport {
                let old = try self.record(db, reimport, account: account)
                guard old.type == "IMPORTED" else { throw AWSError.acmValidation("Only imported certificates can be reimported.") }
                created = old.created
                keptTags = old.tagMap
            }
            try CertificateRecord(
                arn: arn, accountId: account, region: region, domainName: domain, names: CertificateRecord.encode(names), type: "IMPORTED",
                status: certificate.notValidAfter < now ? "EXPIRED" : "ISSUED", keyAlgorithm: algorithm, certificatePEM: certificatePEM,
                chainPEM: chainPEM, privateKeyPEM: keyText, serial: LocalCA.serial(certificate.serialNumber),
                subject: certificate.subject.description, issuer: certificate.issuer.description, notBefore: certificate.notValidBefore,
                notAfter: certificate.notValidAfter, created: created, issuedAt: nil, importedAt: now, idempotencyToken: nil,
                tags: CertificateRecord.encode(keptTags), transparencyLogging: "DISABLED"
            ).save(db)
        }
        return ["CertificateArn": .string(arn)]
    }

    /// ACM's name for a certificate's key algorithm (`RSA-2048`, `EC-prime256v1`, ...).
    static func keyAlgorithm(_ key: Certificate.PublicKey) -> String {
        if P256.Signing.PublicKey(key) != nil { return "EC-prime256v1" }
        if P384.Signing.PublicKey(key) != nil { return "EC-secp384r1" }
        if P521.Signing.PublicKey(key) != nil { return "EC-secp521r1" }
        if let rsa = _RSA.Signing.PublicKey(key) { return "RSA-\(rsa.keySizeInBits)" }
        return "RSA-2048"
    }

    /// Every certificate in a PEM text.
    static func certificates(in text: String) throws -> [Certificate] {
        let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
        var out: [Certificate] = []
        var rest = Substring(text)
        while let start = rest.firstRange(of: begin), let stop = rest[start.upperBound...].firstRange(of: end) {
            guard let c = try? Certificate(pemEncoded: String(rest[start.lowerBound..<stop.upperBound])) else {
                throw AWSError.acmValidation("Unable to parse certificate. Please ensure the certificate is in PEM format.")
            }
            out.append(c)
            rest = rest[stop.upperBound...]
        }
        guard !out.isEmpty else { throw AWSError.acmValidation("Unable to parse certificate. Please ensure the certificate is in PEM format.") }
        return out
    }

    // MARK: reading

    func detail(_ r: CertificateRecord, inUseBy: [String]) -> ShapeValue {
        var d: [String: ShapeValue] = [
            "CertificateArn": .string(r.arn), "DomainName": .string(r.domainName),
            "SubjectAlternativeNames": .list(r.nameList.map { .string($0) }), "Serial": .string(r.serial), "Subject": .string(r.subject),
            "Issuer": .string(r.issuer), "CreatedAt": .timestamp(r.created), "Status": .string(r.status), "NotBefore": .timestamp(r.notBefore),
            "NotAfter": .timestamp(r.notAfter), "KeyAlgorithm": .string(r.keyAlgorithm), "SignatureAlgorithm": "SHA256WITHECDSA",
            "InUseBy": .list(inUseBy.map { .string($0) }), "Type": .string(r.type),
            "KeyUsages": [["Name": "DIGITAL_SIGNATURE"], ["Name": "KEY_ENCIPHERMENT"]],
            "ExtendedKeyUsages": [
                ["Name": "TLS_WEB_SERVER_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.1"], ["Name": "TLS_WEB_CLIENT_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.2"],
            ],
            "RenewalEligibility": .string(r.type == "IMPORTED" ? "INELIGIBLE" : inUseBy.isEmpty ? "INELIGIBLE" : "ELIGIBLE"),
            "Options": ["CertificateTransparencyLoggingPreference": .string(r.transparencyLogging)],
        ]
        if let issued = r.issuedAt { d["IssuedAt"] = .timestamp(issued) }
        if let imported = r.importedAt { d["ImportedAt"] = .timestamp(imported) }
        if r.type == "AMAZON_ISSUED" {
            d["DomainValidationOptions"] = .list(r.nameList.map { name in
                let base = name.hasPrefix("*.") ? String(name.dropFirst(2)) : name
                let label = "_" + Self.digest(r.arn + base, length: 32)
                return [
                    "DomainName": .string(name), "ValidationDomain": .string(base), "ValidationStatus": "SUCCESS", "ValidationMethod": "DNS",
                    "ResourceRecord": [
                        "Name": .string("\(label).\(base)."), "Type": "CNAME",
                        "Value": .string("_\(Self.digest(r.arn + "value" + base, length: 32)).acm-validations.aws."),
                    ],
                ]
            })
        }
        return .structure(d)
    }

    /// A stable hex label derived from `text` (the DNS validation record names).
    static func digest(_ text: String, length: Int) -> String { String(Hashing.sha256Hex(Array(text.utf8)).prefix(length)) }

    func describeCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["CertificateArn"]?.string ?? ""
        let account = call.context.accountId
        let r = try await store.read { db in try self.record(db, arn, account: account) }
        return ["Certificate": detail(r, inUseBy: await usersOf(arn))]
    }

    func getCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["CertificateArn"]?.string ?? ""
        let account = call.context.accountId
        let r = try await store.read { db in try self.record(db, arn, account: account) }
        var out: ShapeValue = ["Certificate": .string(r.certificatePEM)]
        if !r.chainPEM.isEmpty { out = ["Certificate": .string(r.certificatePEM), "CertificateChain": .string(r.chainPEM)] }
        return out
    }

    func listCertificates(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let statuses = Set((input["CertificateStatuses"]?.list ?? []).compactMap(\.string))
        // Without a key-type filter ACM lists RSA certificates of 1024 and 2048 bits only.
        let keyTypes = Set((input["Includes"]?["keyTypes"]?.list ?? []).compactMap(\.string)).map { LocalCA.keyAlgorithms[$0] ?? $0 }
        let wantedKeys = keyTypes.isEmpty ? Set(["RSA-1024", "RSA-2048"]) : Set(keyTypes)
        let limit = input["MaxItems"]?.int ?? 1000
        guard (1...1000).contains(limit) else {
            throw AWSError.acmValidation(
                "1 validation error detected: Value '\(limit)' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000")
        }
        let rows = try await store.read { db in
            try CertificateRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("created"), Column("arn")).fetchAll(db)
        }
        .filter { (statuses.isEmpty || statuses.contains($0.status)) && wantedKeys.contains($0.keyAlgorithm) }
        let page = try PageToken.page(rows, after: input["NextToken"]?.string, limit: limit, invalid: AWSError(code: "InvalidArgsException", message: "Invalid NextToken."))
        var summaries: [ShapeValue] = []
        for r in page.items {
            let inUse = await !usersOf(r.arn).isEmpty
            var s: [String: ShapeValue] = [
                "CertificateArn": .string(r.arn), "DomainName": .string(r.domainName),
                "SubjectAlternativeNameSummaries": .list(r.nameList.prefix(100).map { .string($0) }),
                "HasAdditionalSubjectAlternativeNames": .boolean(r.nameList.count > 100), "Status": .string(r.status), "Type": .string(r.type),
                "KeyAlgorithm": .string(r.keyAlgorithm), "KeyUsages": ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
                "ExtendedKeyUsages": ["TLS_WEB_SERVER_AUTHENTICATION", "TLS_WEB_CLIENT_AUTHENTICATION"], "InUse": .boolean(inUse),
                "RenewalEligibility": .string(r.type == "IMPORTED" || !inUse ? "INELIGIBLE" : "ELIGIBLE"),
                "NotBefore": .timestamp(r.notBefore), "NotAfter": .timestamp(r.notAfter), "CreatedAt": .timestamp(r.created),
            ]
            if let issued = r.issuedAt { s["IssuedAt"] = .timestamp(issued) }
            if let imported = r.importedAt { s["ImportedAt"] = .timestamp(imported) }
            summaries.append(.structure(s))
        }
        var out: [String: ShapeValue] = ["CertificateSummaryList": .list(summaries)]
        if let next = page.next { out["NextToken"] = .string(next) }
        return .structure(out)
    }

    // MARK: deleting and tags

    func deleteCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["CertificateArn"]?.string ?? ""
        let account = call.context.accountId
        _ = try await store.read { db in try self.record(db, arn, account: account) }
        let inUse = await usersOf(arn)
        guard inUse.isEmpty else {
            throw AWSError(code: "ResourceInUseException", message: "Certificate \(arn) in account \(account) is in use by \(inUse.joined(separator: ", ")).")
        }
        try await store.write { db in _ = try CertificateRecord.deleteOne(db, key: arn) }
        return .empty
    }

    func changeTags(_ call: OperationCall, _ change: @escaping @Sendable (inout [String: String]) throws -> Void) async throws {
        let arn = call.input["CertificateArn"]?.string ?? ""
        let account = call.context.accountId
        try await store.write { db in
            var r = try self.record(db, arn, account: account)
            var tags = r.tagMap
            try change(&tags)
            r.tags = CertificateRecord.encode(tags)
            try r.update(db)
        }
    }

    func addTagsToCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let add = Self.tagList(call.input["Tags"])
        try await changeTags(call) { tags in
            tags.merge(add) { _, new in new }
            guard tags.count <= 50 else {
                throw AWSError(code: "TooManyTagsException", message: "the TagSet: contains too many Tags; a resource can have at most 50 tags")
            }
        }
        return .empty
    }

    func removeTagsFromCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let remove = (call.input["Tags"]?.list ?? []).compactMap { t in t["Key"]?.string.map { ($0, t["Value"]?.string) } }
        try await changeTags(call) { tags in
            for (key, value) in remove where value == nil || tags[key] == value { tags[key] = nil }
        }
        return .empty
    }

    func listTagsForCertificate(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["CertificateArn"]?.string ?? ""
        let account = call.context.accountId
        let r = try await store.read { db in try self.record(db, arn, account: account) }
        let tags = r.tagMap.sorted { $0.key < $1.key }.map { ShapeValue.structure(["Key": .string($0.key), "Value": .string($0.value)]) }
        return tags.isEmpty ? .empty : ["Tags": .list(tags)]
    }
}
