import GRDB
import KumoProtocols
public import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A hosted zone (`r53_zones`).
struct ZoneRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "r53_zones"
    var id: String
    var accountId: String
    var name: String
    var callerReference: String
    var isPrivate: Bool
    var comment: String?
    var created: Date
}

/// A resource record set (`r53_records`); values in Route 53's text form.
struct RecordSetRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "r53_records"
    var zoneId: String
    var name: String
    var type: String
    var setIdentifier: String
    var ttl: Int?
    var values: [String]
    /// An alias target as the client sent it (storage JSON), kept and returned.
    var alias: String?
    /// The routing policy members (Weight, Failover, Region, GeoLocation, MultiValueAnswer,
    /// HealthCheckId) as storage JSON; nil for a simple record.
    var routing: String? = nil
}

/// Read for every DNS query: decoded by hand (the values column is a JSON array of strings).
extension RecordSetRecord {
    init(row: Row) throws {
        zoneId = row["zoneId"]
        name = row["name"]
        type = row["type"]
        setIdentifier = row["setIdentifier"]
        ttl = row["ttl"]
        let text: String = row["values"]
        values = (try? JSONValue.parse(text))?.array?.compactMap(\.string) ?? []
        alias = row["alias"]
        routing = row["routing"]
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["zoneId"] = zoneId
        container["name"] = name
        container["type"] = type
        container["setIdentifier"] = setIdentifier
        container["ttl"] = ttl
        container["values"] = JSONValue.array(values.map { .string($0) }).serialized()
        container["alias"] = alias
        container["routing"] = routing
    }
}

/// A health check (`r53_health_checks`): its configuration as the client sent it (storage JSON).
struct HealthCheckRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "r53_health_checks"
    var id: String
    var accountId: String
    var callerReference: String
    var config: String
    var version: Int
    var created: Date
}

/// A VPC associated with a private hosted zone (`r53_zone_vpcs`).
struct ZoneVPCRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "r53_zone_vpcs"
    var zoneId: String
    var vpcId: String
    var vpcRegion: String
}

/// A submitted change batch (`r53_changes`).
struct ChangeRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "r53_changes"
    var id: String
    var submitted: Date
    var comment: String?
}

extension Route53Provider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("route53.v1") { db in
            try db.create(table: "r53_zones") { t in
                t.primaryKey("id", .text)
                t.column("accountId", .text).notNull()
                t.column("name", .text).notNull()
                t.column("callerReference", .text).notNull()
                t.column("isPrivate", .boolean).notNull()
                t.column("comment", .text)
                t.column("created", .datetime).notNull()
            }
            try db.create(index: "r53_zones_name", on: "r53_zones", columns: ["name"])
            try db.create(table: "r53_records") { t in
                t.column("zoneId", .text).notNull().references("r53_zones", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("type", .text).notNull()
                t.column("setIdentifier", .text).notNull()
                t.column("ttl", .integer)
                t.column("values", .text).notNull()
                t.column("alias", .text)
                t.primaryKey(["zoneId", "name", "type", "setIdentifier"])
            }
            try db.create(table: "r53_changes") { t in
                t.primaryKey("id", .text)
                t.column("submitted", .datetime).notNull()
                t.column("comment", .text)
            }
        },
        StoreMigration("route53.v2") { db in
            try db.alter(table: "r53_records") { t in t.add(column: "routing", .text) }
            try db.create(table: "r53_health_checks") { t in
                t.primaryKey("id", .text)
                t.column("accountId", .text).notNull()
                t.column("callerReference", .text).notNull()
                t.column("config", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("created", .datetime).notNull()
            }
        },
        StoreMigration("route53.v3") { db in
            try db.create(table: "r53_zone_vpcs") { t in
                t.column("zoneId", .text).notNull().references("r53_zones", onDelete: .cascade)
                t.column("vpcId", .text).notNull()
                t.column("vpcRegion", .text).notNull()
                t.primaryKey(["zoneId", "vpcId"])
            }
        },
    ]

    public static let tables = ["r53_changes", "r53_zone_vpcs", "r53_records", "r53_zones", "r53_health_checks"]
}
