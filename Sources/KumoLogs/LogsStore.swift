import GRDB
public import KumoStore

/// A log group (`logs_groups`).
struct GroupRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "logs_groups"
    var accountId: String
    var region: String
    var name: String
    var created: Int64
    var retentionDays: Int?
}

/// A log stream (`logs_streams`).
struct StreamRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "logs_streams"
    var accountId: String
    var region: String
    var groupName: String
    var name: String
    var created: Int64
    var firstEvent: Int64?
    var lastEvent: Int64?
    var lastIngestion: Int64?
    var storedBytes: Int64
}

/// One log event (`logs_events`); `id` orders events and makes the pagination tokens.
struct EventRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "logs_events"
    var id: Int64?
    var accountId: String
    var region: String
    var groupName: String
    var streamName: String
    var timestamp: Int64
    var ingestion: Int64
    var message: String

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension LogsProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("logs.v1") { db in
            try db.create(table: "logs_groups") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("created", .integer).notNull()
                t.column("retentionDays", .integer)
                t.primaryKey(["accountId", "region", "name"])
            }
            try db.create(table: "logs_streams") { t in
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("name", .text).notNull()
                t.column("created", .integer).notNull()
                t.column("firstEvent", .integer)
                t.column("lastEvent", .integer)
                t.column("lastIngestion", .integer)
                t.column("storedBytes", .integer).notNull()
                t.primaryKey(["accountId", "region", "groupName", "name"])
            }
            try db.create(table: "logs_events") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("groupName", .text).notNull()
                t.column("streamName", .text).notNull()
                t.column("timestamp", .integer).notNull()
                t.column("ingestion", .integer).notNull()
                t.column("message", .text).notNull()
            }
            try db.create(index: "logs_events_stream", on: "logs_events", columns: ["accountId", "region", "groupName", "streamName", "timestamp"])
            try db.create(index: "logs_events_group", on: "logs_events", columns: ["accountId", "region", "groupName", "timestamp"])
        }
    ]

    public static let tables = ["logs_events", "logs_streams", "logs_groups"]
}
