import GRDB
public import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A network resource (`ec2_resources`): VPCs, subnets, security groups — each kept as the
/// shape its Describe call returns (storage JSON), with the columns filters and lookups need.
struct ResourceRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "ec2_resources"
    var id: String
    var accountId: String
    var region: String
    /// `vpc`, `subnet`, `security-group`.
    var type: String
    var vpcId: String?
    var body: String
}

/// An instance (`ec2_instances`): what it was launched with and where its process stands.
struct InstanceRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "ec2_instances"
    var id: String
    var accountId: String
    var region: String
    var reservationId: String
    var imageId: String
    var instanceType: String
    var subnetId: String
    var vpcId: String
    var availabilityZone: String
    var privateIp: String
    /// The loopback address the instance's processes bind (`KUMO_BIND_ADDRESS`).
    var bindAddress: String
    var userData: String
    /// Security group ids as a JSON array.
    var securityGroups: String
    var keyName: String?
    var state: String
    var stateReason: String?
    var launchTime: Date
    /// When a terminated instance stops being listed.
    var forgetAt: Date?
    var launchIndex: Int
    /// ModifyInstanceAttribute's flags (`disableApiTermination`, ...) as a JSON object.
    var attributes: String = "{}"
}

/// Tags of any EC2 resource (`ec2_tags`).
struct TagRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "ec2_tags"
    var resourceId: String
    var key: String
    var value: String
}

extension EC2Provider {
    public static var migrations: [StoreMigration] { firstMigrations + laterMigrations }

    static let firstMigrations: [StoreMigration] = [
        StoreMigration("ec2.v1") { db in
            try db.create(table: "ec2_resources") { t in
                t.primaryKey("id", .text)
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("type", .text).notNull()
                t.column("vpcId", .text)
                t.column("body", .text).notNull()
            }
            try db.create(index: "ec2_resources_scope", on: "ec2_resources", columns: ["accountId", "region", "type"])
            try db.create(table: "ec2_instances") { t in
                t.primaryKey("id", .text)
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("reservationId", .text).notNull()
                t.column("imageId", .text).notNull()
                t.column("instanceType", .text).notNull()
                t.column("subnetId", .text).notNull()
                t.column("vpcId", .text).notNull()
                t.column("availabilityZone", .text).notNull()
                t.column("privateIp", .text).notNull()
                t.column("bindAddress", .text).notNull().unique()
                t.column("userData", .text).notNull()
                t.column("securityGroups", .text).notNull()
                t.column("keyName", .text)
                t.column("state", .text).notNull()
                t.column("stateReason", .text)
                t.column("launchTime", .datetime).notNull()
                t.column("forgetAt", .datetime)
                t.column("launchIndex", .integer).notNull()
            }
            try db.create(table: "ec2_tags") { t in
                t.column("resourceId", .text).notNull()
                t.column("key", .text).notNull()
                t.column("value", .text).notNull()
                t.primaryKey(["resourceId", "key"])
            }
        }
    ]

    public static let tables = ["ec2_tags", "ec2_instances", "ec2_resources"]
}

extension EC2Provider {
    static let laterMigrations: [StoreMigration] = [
        StoreMigration("ec2.v2") { db in
            try db.alter(table: "ec2_instances") { t in t.add(column: "attributes", .text).notNull().defaults(to: "{}") }
        }
    ]
}
