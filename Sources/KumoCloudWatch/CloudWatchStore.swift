import GRDB
public import KumoStore

/// One datum as PutMetricData sent it, reduced to a statistic set (`cw_datapoints`).
struct DatapointRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "cw_datapoints"
    var accountId: String
    var region: String
    var namespace: String
    var name: String
    /// Dimensions as `Name=Value` lines, sorted by name.
    var dimensions: String
    /// Seconds since 1970.
    var timestamp: Double
    var sampleCount: Double
    var sum: Double
    var minimum: Double
    var maximum: Double
    var unit: String?
}

/// An alarm (`cw_alarms`): its configuration as PutMetricAlarm sent it, and its state.
struct AlarmRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "cw_alarms"
    var accountId: String
    var region: String
    var name: String
    var config: String
    var state: String
    var stateReason: String
    var stateReasonData: String?
    var stateUpdated: Double
    var stateTransitioned: Double
    var configUpdated: Double
    var actionsEnabled: Bool
}

/// The history DescribeAlarmHistory reads (`cw_alarm_history`).
struct HistoryRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "cw_alarm_history"
    var accountId: String
    var region: String
    var alarmName: String
    var timestamp: Double
    var type: String
    var summary: String
    var data: String
}

extension CloudWatchProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("cloudwatch.v1") { db in
            try db.create(table: "cw_datapoints") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("namespace", .text).notNull()
                t.column("name", .text).notNull()
                t.column("dimensions", .text).notNull()
                t.column("timestamp", .double).notNull()
                t.column("sampleCount", .double).notNull()
                t.column("sum", .double).notNull()
                t.column("minimum", .double).notNull()
                t.column("maximum", .double).notNull()
                t.column("unit", .text)
            }
            try db.create(
                index: "cw_datapoints_series", on: "cw_datapoints", columns: ["accountId", "region", "namespace", "name", "dimensions", "timestamp"])
            try db.create(index: "cw_datapoints_age", on: "cw_datapoints", columns: ["timestamp"])
            try db.create(table: "cw_alarms") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("config", .text).notNull()
                t.column("state", .text).notNull()
                t.column("stateReason", .text).notNull()
                t.column("stateReasonData", .text)
                t.column("stateUpdated", .double).notNull()
                t.column("stateTransitioned", .double).notNull()
                t.column("configUpdated", .double).notNull()
                t.column("actionsEnabled", .boolean).notNull()
                t.primaryKey(["accountId", "region", "name"])
            }
            try db.create(table: "cw_alarm_history") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("alarmName", .text).notNull()
                t.column("timestamp", .double).notNull()
                t.column("type", .text).notNull()
                t.column("summary", .text).notNull()
                t.column("data", .text).notNull()
            }
            try db.create(index: "cw_alarm_history_alarm", on: "cw_alarm_history", columns: ["accountId", "region", "alarmName", "timestamp"])
        },
        StoreMigration("cloudwatch.v2") { db in
            // How far each resolution tier has rolled datapoints up (`Retention`).
            try db.create(table: "cw_rollups") { t in
                t.primaryKey("bucket", .double)
                t.column("upTo", .double).notNull()
            }
        },
    ]

    public static let tables = ["cw_rollups", "cw_alarm_history", "cw_alarms", "cw_datapoints"]
}
