import GRDB
import KumoProtocols
public import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A distribution (`cf_distributions`); its configuration as the client sent it (storage JSON).
struct DistributionRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "cf_distributions"
    var id: String
    var accountId: String
    var callerReference: String
    var config: String
    var etag: String
    var enabled: Bool
    /// Alternate domain names, lower-cased, as a JSON array (CNAMEAlreadyExists checks, alias routing).
    var aliases: String
    var lastModified: Date
    /// When the change that `lastModified` records has reached every edge (Status: Deployed).
    var deployedAt: Date
}

/// An invalidation (`cf_invalidations`).
struct InvalidationRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "cf_invalidations"
    var id: String
    var distributionId: String
    var callerReference: String
    /// The paths as a JSON array.
    var paths: String
    var created: Date
    var completedAt: Date
}

/// Origin access controls and the account's own policies (`cf_configs`): one table for every
/// CloudFront resource that is just an id, an ETag and a config.
struct ConfigRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "cf_configs"
    /// `oac`, `cache-policy`, `origin-request-policy`, `response-headers-policy`.
    var kind: String
    var id: String
    var accountId: String
    var name: String
    var config: String
    var etag: String
    var lastModified: Date
}

/// Tags of distributions (`cf_tags`).
struct TagRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "cf_tags"
    var resource: String
    var key: String
    var value: String
}

extension CloudFrontProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("cloudfront.v1") { db in
            try db.create(table: "cf_distributions") { t in
                t.primaryKey("id", .text)
                t.column("accountId", .text).notNull()
                t.column("callerReference", .text).notNull()
                t.column("config", .text).notNull()
                t.column("etag", .text).notNull()
                t.column("enabled", .boolean).notNull()
                t.column("aliases", .text).notNull()
                t.column("lastModified", .datetime).notNull()
                t.column("deployedAt", .datetime).notNull()
            }
            try db.create(table: "cf_invalidations") { t in
                t.primaryKey("id", .text)
                t.column("distributionId", .text).notNull().references("cf_distributions", onDelete: .cascade)
                t.column("callerReference", .text).notNull()
                t.column("paths", .text).notNull()
                t.column("created", .datetime).notNull()
                t.column("completedAt", .datetime).notNull()
            }
            try db.create(index: "cf_invalidations_distribution", on: "cf_invalidations", columns: ["distributionId", "created"])
            try db.create(table: "cf_configs") { t in
                t.column("kind", .text).notNull()
                t.column("id", .text).notNull()
                t.column("accountId", .text).notNull()
                t.column("name", .text).notNull()
                t.column("config", .text).notNull()
                t.column("etag", .text).notNull()
                t.column("lastModified", .datetime).notNull()
                t.primaryKey(["kind", "id"])
            }
            try db.create(table: "cf_tags") { t in
                t.column("resource", .text).notNull()
                t.column("key", .text).notNull()
                t.column("value", .text).notNull()
                t.primaryKey(["resource", "key"])
            }
        }
    ]

    public static let tables = ["cf_tags", "cf_configs", "cf_invalidations", "cf_distributions"]
}
