import GRDB
public import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One certificate (`acm_certificates`): issued by the local CA or imported.
struct CertificateRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "acm_certificates"
    var arn: String
    var accountId: String
    var region: String
    var domainName: String
    /// JSON list of every name the certificate covers, the domain name first.
    var names: String
    /// `AMAZON_ISSUED` or `IMPORTED`.
    var type: String
    var status: String
    var keyAlgorithm: String
    var certificatePEM: String
    var chainPEM: String
    var privateKeyPEM: String
    var serial: String
    var subject: String
    var issuer: String
    var notBefore: Date
    var notAfter: Date
    var created: Date
    var issuedAt: Date?
    var importedAt: Date?
    var idempotencyToken: String?
    /// JSON object of tags.
    var tags: String
    var transparencyLogging: String

    var nameList: [String] { (try? JSONDecoder().decode([String].self, from: Data(names.utf8))) ?? [domainName] }
    var tagMap: [String: String] { (try? JSONDecoder().decode([String: String].self, from: Data(tags.utf8))) ?? [:] }

    static func encode<T: Encodable>(_ value: T) -> String { String(decoding: (try? JSONEncoder().encode(value)) ?? Data("null".utf8), as: UTF8.self) }
}

/// The local certificate authority (`acm_ca`): one row.
struct AuthorityRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "acm_ca"
    var id: Int
    var certificatePEM: String
    var privateKeyPEM: String
    var created: Date
}

extension ACMProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("acm.v1") { db in
            try db.create(table: "acm_ca") { t in
                t.primaryKey("id", .integer)
                t.column("certificatePEM", .text).notNull()
                t.column("privateKeyPEM", .text).notNull()
                t.column("created", .datetime).notNull()
            }
            try db.create(table: "acm_certificates") { t in
                t.primaryKey("arn", .text)
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("domainName", .text).notNull()
                t.column("names", .text).notNull()
                t.column("type", .text).notNull()
                t.column("status", .text).notNull()
                t.column("keyAlgorithm", .text).notNull()
                t.column("certificatePEM", .text).notNull()
                t.column("chainPEM", .text).notNull()
                t.column("privateKeyPEM", .text).notNull()
                t.column("serial", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("issuer", .text).notNull()
                t.column("notBefore", .datetime).notNull()
                t.column("notAfter", .datetime).notNull()
                t.column("created", .datetime).notNull()
                t.column("issuedAt", .datetime)
                t.column("importedAt", .datetime)
                t.column("idempotencyToken", .text)
                t.column("tags", .text).notNull()
                t.column("transparencyLogging", .text).notNull()
            }
        }
    ]

    /// The certificates; the local CA survives `kumo reset` so the root users trust stays valid.
    public static let tables = ["acm_certificates"]
}
