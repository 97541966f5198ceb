import GRDB
import KumoCore
public import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Temporary credentials issued by STS, kept in the `sts_credentials` table.
struct TemporaryCredential: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "sts_credentials"

    var accessKeyId: String
    var secretAccessKey: String
    var sessionToken: String
    var accountId: String
    var kind: String
    var name: String
    var sessionName: String?
    var userId: String
    var expiration: Date

    enum Columns {
        static let accessKeyId = Column(CodingKeys.accessKeyId)
        static let expiration = Column(CodingKeys.expiration)
    }

    var identity: Identity {
        Identity(
            accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, accountId: accountId,
            kind: Identity.Kind(rawValue: kind) ?? .session, name: name, sessionName: sessionName,
            sessionToken: sessionToken, expiration: expiration, userId: userId)
    }
}

extension STSProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("sts.v1") { db in
            try db.create(table: "sts_credentials") { t in
                t.primaryKey("accessKeyId", .text)
                t.column("secretAccessKey", .text).notNull()
                t.column("sessionToken", .text).notNull()
                t.column("accountId", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("name", .text).notNull()
                t.column("sessionName", .text)
                t.column("userId", .text).notNull()
                t.column("expiration", .datetime).notNull()
            }
        }
    ]

    public static let tables = ["sts_credentials"]
}
