import GRDB
import KumoCore
import KumoProtocols
public import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A queue (`sqs_queues`), keyed by account, region and name.
struct QueueRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "sqs_queues"
    var id: String
    var accountId: String
    var region: String
    var name: String
    var attributes: [String: String]
    var tags: [String: String]
    var created: Date
    var lastModified: Date
    var purgedAt: Date?

    /// `account/region/name`.
    static func key(account: String, region: String, name: String) -> String { "\(account)/\(region)/\(name)" }

    /// The key of the queue an SQS ARN names; nil when it is not one.
    static func key(arn: String) -> String? {
        guard let a = ARN(arn), a.service == "sqs", !a.resource.isEmpty else { return nil }
        return key(account: a.accountId, region: a.region, name: a.resource)
    }

    var isFifo: Bool { attributes["FifoQueue"] == "true" }
    func seconds(_ attribute: String, default value: Double) -> Double { attributes[attribute].flatMap(Double.init) ?? value }
    var arn: String { "arn:aws:sqs:\(region):\(accountId):\(name)" }
}

/// A message (`sqs_messages`); `seq` orders a queue's messages.
struct MessageRecord: Codable, FetchableRecord, MutablePersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "sqs_messages"
    var seq: Int64?
    var queue: String
    var messageId: String
    var body: String
    /// The message attributes as sent, in Kumo's storage JSON.
    var attributes: String
    var md5Body: String
    var md5Attributes: String?
    var sent: Date
    var visibleAt: Date
    var receiveCount: Int
    var firstReceived: Date?
    /// Changes on every receive; part of the receipt handle.
    var receipt: String?
    var groupId: String?
    var dedupId: String?
    var traceHeader: String?
    /// The queue a dead-lettered message came from (where a move task returns it).
    var origin: String?

    mutating func didInsert(_ inserted: InsertionSuccess) { seq = inserted.rowID }
}

extension SQSProvider {
    public static let migrations: [StoreMigration] = [
        StoreMigration("sqs.v1") { db in
            try db.create(table: "sqs_queues") { t in
                t.primaryKey("id", .text)
                t.column("accountId", .text).notNull()
                t.column("region", .text).notNull()
                t.column("name", .text).notNull()
                t.column("attributes", .text).notNull()
                t.column("tags", .text).notNull()
                t.column("created", .datetime).notNull()
                t.column("lastModified", .datetime).notNull()
                t.column("purgedAt", .datetime)
            }
            try db.create(table: "sqs_messages") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("queue", .text).notNull().references("sqs_queues", onDelete: .cascade)
                t.column("messageId", .text).notNull()
                t.column("body", .text).notNull()
                t.column("attributes", .text).notNull()
                t.column("md5Body", .text).notNull()
                t.column("md5Attributes", .text)
                t.column("sent", .datetime).notNull()
                t.column("visibleAt", .datetime).notNull()
                t.column("receiveCount", .integer).notNull()
                t.column("firstReceived", .datetime)
                t.column("receipt", .text)
                t.column("groupId", .text)
                t.column("dedupId", .text)
                t.column("traceHeader", .text)
            }
            try db.create(index: "sqs_messages_visible", on: "sqs_messages", columns: ["queue", "visibleAt"])
            try db.create(table: "sqs_dedup") { t in
                t.column("queue", .text).notNull().references("sqs_queues", onDelete: .cascade)
                t.column("dedupId", .text).notNull()
                t.column("messageId", .text).notNull()
                t.column("expires", .datetime).notNull()
                t.primaryKey(["queue", "dedupId"])
            }
        },
        // Receives walk a queue in send order and stop at the first visible messages;
        // retention deletes by send time. Neither wants the visibleAt index.
        StoreMigration("sqs.v2") { db in
            try db.drop(index: "sqs_messages_visible")
            try db.create(index: "sqs_messages_order", on: "sqs_messages", columns: ["queue"])
            try db.create(index: "sqs_messages_sent", on: "sqs_messages", columns: ["queue", "sent"])
        },
        StoreMigration("sqs.v3") { db in
            try db.alter(table: "sqs_messages") { t in t.add(column: "origin", .text) }
            try db.create(table: "sqs_move_tasks") { t in
                t.primaryKey("handle", .text)
                t.column("source", .text).notNull()
                t.column("destination", .text)
                t.column("started", .datetime).notNull()
                t.column("moved", .integer).notNull()
                t.column("toMove", .integer).notNull()
                t.column("status", .text).notNull()
            }
        },
    ]

    public static let tables = ["sqs_move_tasks", "sqs_dedup", "sqs_messages", "sqs_queues"]
}
