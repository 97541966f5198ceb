import GRDB
public import KumoStore
import KumoProtocols

/// A group (`asg_groups`): its configuration as the API shows it (storage JSON).
struct GroupRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_groups"
    var accountId: String
    var region: String
    var name: String
    var arn: String
    var config: String
    var created: Double
    /// Simple scaling waits until then (the cooldown after the last scaling activity).
    var cooldownUntil: Double
}

extension GroupRecord {
    /// The group's settings (its `config` column, storage JSON) as members to read and change.
    var settings: [String: ShapeValue] {
        get { ShapeValue(storageText: config).members ?? [:] }
        set { config = ShapeValue.structure(newValue).storageText }
    }
}

/// An instance of a group (`asg_instances`).
struct MemberRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_instances"
    var instanceId: String
    var groupName: String
    var accountId: String
    var region: String
    var availabilityZone: String
    var lifecycleState: String
    var healthStatus: String
    var instanceType: String
    var launchTemplate: String
    var launched: Double
    var protectedFromScaleIn: Bool
}

/// A scaling activity (`asg_activities`).
struct ActivityRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_activities"
    var id: String
    var accountId: String
    var region: String
    var groupName: String
    var description: String
    var cause: String
    var statusCode: String
    var statusMessage: String?
    var start: Double
    var end: Double?
}

/// A scaling policy (`asg_policies`).
struct PolicyRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_policies"
    var arn: String
    var accountId: String
    var region: String
    var groupName: String
    var name: String
    var config: String
    /// Alarm names the policy owns (target tracking), as a JSON array.
    var alarms: String
}

/// An instance refresh (`asg_refreshes`): its preferences, the instances it replaces, its progress and any rollback.
struct RefreshRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "asg_refreshes"
    var id: String
    var accountId: String
    var region: String
    var groupName: String
    var status: String
    var statusReason: String?
    var started: Double
    var ended: Double?
    var toUpdate: Int
    var preferences: String
    var desiredConfiguration: String?
    /// The instances still to replace (storage JSON list of ids): fixed at the start, and at a rollback.
    var replace: String = "[]"
    /// Checkpoints reached so far, and until when the refresh waits at the last one (or bakes).
    var checkpoint: Int = 0
    var pausedUntil: Double?
    /// Replacement instances that failed (launch errors, failed health checks).
    var failures: Int = 0
    /// Progress as the last pass saw it, for DescribeInstanceRefreshes.
    var remaining: Int = 0
    var percentage: Int = 0
    /// Since when only scale-in protected instances are left to replace (ScaleInProtectedInstances Wait).
    var waitingSince: Double?
    var rollbackReason: String?
    var rollbackStarted: Double?
    var rollbackPercentage: Int?
    var rollbackToUpdate: Int?
}

extension RefreshRecord {
    var replaceIds: Set<String> {
        get { Set((ShapeValue(storageText: replace).list ?? []).compactMap(\.string)) }
        set { replace = ShapeValue.list(newValue.sorted().map { .string($0) }).storageText }
    }
}

/// A scheduled action (`asg_scheduled_actions`): what it sets (storage JSON) and when it runs next.
struct ScheduledActionRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_scheduled_actions"
    var accountId: String
    var region: String
    var groupName: String
    var name: String
    var arn: String
    var config: String
    var nextRun: Double?
    var endTime: Double?
}

/// A lifecycle hook (`asg_lifecycle_hooks`): its settings as storage JSON.
struct LifecycleHookRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_lifecycle_hooks"
    var accountId: String
    var region: String
    var groupName: String
    var name: String
    var config: String
}

/// An instance waiting for a lifecycle hook (`asg_lifecycle_actions`), by its action token.
struct LifecycleActionRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_lifecycle_actions"
    var token: String
    var instanceId: String
    var accountId: String
    var region: String
    var groupName: String
    var hookName: String
    var transition: String
    /// The heartbeat timeout in AWS seconds.
    var timeout: Double
    var deadline: Double
    var defaultResult: String
    var result: String?
}

/// A group's warm pool (`asg_warm_pools`): its settings as storage JSON.
struct WarmPoolRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "asg_warm_pools"
    var accountId: String
    var region: String
    var groupName: String
    var config: String
}

extension AutoScalingProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("autoscaling.v1") { db in
            try db.create(table: "asg_groups") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("arn", .text).notNull()
                t.column("config", .text).notNull()
                t.column("created", .double).notNull()
                t.column("cooldownUntil", .double).notNull()
                t.primaryKey(["accountId", "region", "name"])
            }
            try db.create(table: "asg_instances") { t in
                t.primaryKey("instanceId", .text)
                t.column("groupName", .text).notNull()
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("availabilityZone", .text).notNull()
                t.column("lifecycleState", .text).notNull()
                t.column("healthStatus", .text).notNull()
                t.column("instanceType", .text).notNull()
                t.column("launchTemplate", .text).notNull()
                t.column("launched", .double).notNull()
                t.column("protectedFromScaleIn", .boolean).notNull()
            }
            try db.create(table: "asg_activities") { t in
                t.primaryKey("id", .text)
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("description", .text).notNull()
                t.column("cause", .text).notNull()
                t.column("statusCode", .text).notNull()
                t.column("statusMessage", .text)
                t.column("start", .double).notNull()
                t.column("end", .double)
            }
            try db.create(table: "asg_policies") { t in
                t.primaryKey("arn", .text)
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("name", .text).notNull()
                t.column("config", .text).notNull()
                t.column("alarms", .text).notNull()
            }
        },
        StoreMigration("autoscaling.v2") { db in
            try db.create(table: "asg_refreshes") { t in
                refreshColumnsV2(t)
            }
        },
        StoreMigration("autoscaling.v3") { db in
            try db.create(table: "asg_scheduled_actions") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("name", .text).notNull()
                t.column("arn", .text).notNull()
                t.column("config", .text).notNull()
                t.column("nextRun", .double)
                t.column("endTime", .double)
                t.primaryKey(["accountId", "region", "groupName", "name"])
            }
        },
        StoreMigration("autoscaling.v4") { db in
            try db.create(table: "asg_lifecycle_hooks") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("name", .text).notNull()
                t.column("config", .text).notNull()
                t.primaryKey(["accountId", "region", "groupName", "name"])
            }
            try db.create(table: "asg_lifecycle_actions") { t in
                t.primaryKey("token", .text)
                t.column("instanceId", .text).notNull().indexed()
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("hookName", .text).notNull()
                t.column("transition", .text).notNull()
                t.column("timeout", .double).notNull()
                t.column("deadline", .double).notNull()
                t.column("defaultResult", .text).notNull()
                t.column("result", .text)
            }
        },
        StoreMigration("autoscaling.v5") { db in
            try db.create(table: "asg_warm_pools") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("config", .text).notNull()
                t.primaryKey(["accountId", "region", "groupName"])
            }
        },
        StoreMigration("autoscaling.v6") { db in
            // Eleven new columns: one table rebuild rather than eleven ALTER TABLEs, each of which makes
            // SQLite reload the whole schema (most of a first start's migration time).
            let old = try db.columns(in: "asg_refreshes").map(\.name)
            try db.create(table: "asg_refreshes_v6") { t in
                refreshColumnsV2(t)
                t.column("replace", .text).notNull().defaults(to: "[]")
                t.column("checkpoint", .integer).notNull().defaults(to: 0)
                t.column("pausedUntil", .double)
                t.column("failures", .integer).notNull().defaults(to: 0)
                t.column("remaining", .integer).notNull().defaults(to: 0)
                t.column("percentage", .integer).notNull().defaults(to: 0)
                t.column("waitingSince", .double)
                t.column("rollbackReason", .text)
                t.column("rollbackStarted", .double)
                t.column("rollbackPercentage", .integer)
                t.column("rollbackToUpdate", .integer)
            }
            let columns = old.map { "\"\($0)\"" }.joined(separator: ", ")
            try db.execute(sql: "INSERT INTO asg_refreshes_v6 (\(columns)) SELECT \(columns) FROM asg_refreshes")
            try db.drop(table: "asg_refreshes")
            try db.rename(table: "asg_refreshes_v6", to: "asg_refreshes")
        },
    ]

    /// `asg_refreshes` as autoscaling.v2 made it; autoscaling.v6 rebuilds it with these and more.
    static func refreshColumnsV2(_ t: TableDefinition) {
        t.primaryKey("id", .text)
        t.column("accountId", .text).notNull()
        t.column("region", .text).notNull()
        t.column("groupName", .text).notNull()
        t.column("status", .text).notNull()
        t.column("statusReason", .text)
        t.column("started", .double).notNull()
        t.column("ended", .double)
        t.column("toUpdate", .integer).notNull()
        t.column("preferences", .text).notNull()
        t.column("desiredConfiguration", .text)
    }

    public static let tables = ["asg_warm_pools", "asg_lifecycle_actions", "asg_lifecycle_hooks", "asg_scheduled_actions", "asg_refreshes", "asg_policies", "asg_activities", "asg_instances", "asg_groups"]
}
