import GRDB
public import KumoStore

/// Load balancers, target groups, listeners and rules (`elb_resources`): each kept as the
/// shape its Describe call returns (storage JSON), with the columns lookups need.
struct ResourceRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "elb_resources"
    var arn: String
    /// `loadbalancer`, `targetgroup`, `listener`, `rule`.
    var kind: String
    var accountId: String
    var region: String
    /// The load balancer or target group name; the listener port; the rule priority.
    var name: String
    /// A listener's load balancer, a rule's listener.
    var parent: String?
    var body: String
    /// Attributes (`idle_timeout.timeout_seconds`...) as a JSON object.
    var attributes: String
    var created: Double
}

/// A registered target (`elb_targets`).
struct TargetRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "elb_targets"
    var targetGroupArn: String
    var targetId: String
    var port: Int
    var availabilityZone: String?
}

/// Tags of any ELB resource (`elb_tags`).
struct TagRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "elb_tags"
    var resourceArn: String
    var key: String
    var value: String
}

extension ELBProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("elbv2.v1") { db in
            try db.create(table: "elb_resources") { t in
                t.primaryKey("arn", .text)
                t.column("kind", .text).notNull()
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("parent", .text)
                t.column("body", .text).notNull()
                t.column("attributes", .text).notNull()
                t.column("created", .double).notNull()
            }
            try db.create(index: "elb_resources_scope", on: "elb_resources", columns: ["accountId", "region", "kind"])
            try db.create(table: "elb_targets") { t in
                t.column("targetGroupArn", .text).notNull()
                t.column("targetId", .text).notNull()
                t.column("port", .integer).notNull()
                t.column("availabilityZone", .text)
                t.primaryKey(["targetGroupArn", "targetId", "port"])
            }
            try db.create(table: "elb_tags") { t in
                t.column("resourceArn", .text).notNull()
                t.column("key", .text).notNull()
                t.column("value", .text).notNull()
                t.primaryKey(["resourceArn", "key"])
            }
        }
    ]

    public static let tables = ["elb_tags", "elb_targets", "elb_resources"]
}
