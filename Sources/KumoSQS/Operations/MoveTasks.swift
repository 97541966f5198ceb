import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Message move tasks: messages in a dead-letter queue go back to where they came from
/// (or to a named destination). Kumo moves them in one transaction, so a task is
/// complete when StartMessageMoveTask returns.
struct MoveTaskRecord: Codable, FetchableRecord, PersistableRecord, StoredDates, Sendable {
    static let databaseTableName = "sqs_move_tasks"
    var handle: String
    var source: String
    var destination: String?
    var started: Date
    var moved: Int
    var toMove: Int
    var status: String
}

extension SQS {
    func queueKey(arn: String) throws -> String {
        guard let key = QueueRecord.key(arn: arn) else {
            throw AWSError(code: "ResourceNotFoundException", message: "The resource that you specified for the SourceArn parameter doesn't exist.", status: 400)
        }
        return key
    }

    func startMessageMoveTask(_ call: OperationCall) async throws -> ShapeValue {
        let sourceArn = call.string("SourceArn") ?? ""
        let destinationArn = call.string("DestinationArn")
        let source = try queueKey(arn: sourceArn)
        let destination = try destinationArn.map { try queueKey(arn: $0) }
        let now = clock.now
        let handle = Data("\(source)\n\(UUID().uuidString)".utf8).base64EncodedString()
        let touched = try await store.write { db -> [String] in
            guard let q = try QueueRecord.fetchOne(db, key: source), q.accountId == call.context.accountId else {
                throw AWSError(code: "ResourceNotFoundException", message: "The resource that you specified for the SourceArn parameter doesn't exist.", status: 400)
            }
            if let destination, try QueueRecord.fetchOne(db, key: destination) == nil {
                throw AWSError(code: "ResourceNotFoundException", message: "The resource that you specified for the DestinationArn parameter doesn't exist.", status: 400)
            }
            if try MoveTaskRecord.filter(Column("source") == source && Column("status") == "RUNNING").fetchCount(db) > 0 {
                throw AWSError.sqsInvalidParameter("There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
            }
            let messages = try MessageRecord.fetchAll(db, sql: "SELECT * FROM sqs_messages WHERE queue = ? AND visibleAt <= ? ORDER BY seq", arguments: [q.id, now.stored])
            guard destination != nil || messages.allSatisfy({ $0.origin != nil }) else {
                throw AWSError.sqsInvalidParameter("Source queue must be configured as a Dead Letter Queue.")
            }
            var touched: Set<String> = []
            for var m in messages {
                let target = destination ?? m.origin!
                guard try QueueRecord.fetchOne(db, key: target) != nil else { continue }
                m.queue = target
                m.receiveCount = 0
                m.receipt = nil
                m.visibleAt = now
                m.origin = nil
                try m.update(db)
                touched.insert(target)
            }
            try MoveTaskRecord(
                handle: handle, source: source, destination: destination, started: now, moved: messages.count, toMove: messages.count,
                status: "COMPLETED"
            ).insert(db)
            return Array(touched)
        }
        for q in touched { wakeups.notify(q) }
        return ["TaskHandle": .string(handle)]
    }

    func listMessageMoveTasks(_ call: OperationCall) async throws -> ShapeValue {
        let source = try queueKey(arn: call.string("SourceArn") ?? "")
        let max = call.input["MaxResults"]?.int ?? 1
        let tasks = try await store.read { db in
            try MoveTaskRecord.filter(Column("source") == source).order(Column("started").desc).limit(max).fetchAll(db)
        }
        func arn(_ key: String) -> String {
            let p = key.split(separator: "/")
            return "arn:aws:sqs:\(p[1]):\(p[0]):\(p[2])"
        }
        return ["Results": .list(tasks.map { t in
            var entry: [String: ShapeValue] = [
                "TaskHandle": .string(t.handle), "Status": .string(t.status), "SourceArn": .string(arn(t.source)),
                "ApproximateNumberOfMessagesMoved": .integer(Int64(t.moved)), "ApproximateNumberOfMessagesToMove": .integer(Int64(t.toMove)),
                "StartedTimestamp": .integer(Int64(t.started.timeIntervalSince1970 * 1000)),
            ]
            if let d = t.destination { entry["DestinationArn"] = .string(arn(d)) }
            return .structure(entry)
        })]
    }

    func cancelMessageMoveTask(_ call: OperationCall) async throws -> ShapeValue {
        let handle = call.string("TaskHandle") ?? ""
        guard let task = try await store.read({ db in try MoveTaskRecord.fetchOne(db, key: handle) }) else {
            throw AWSError(code: "ResourceNotFoundException", message: "The resource that you specified for the TaskHandle parameter doesn't exist.", status: 400)
        }
        guard task.status == "RUNNING" else {
            throw AWSError(code: "UnsupportedOperation", message: "Only active tasks can be cancelled.", queryCode: "AWS.SimpleQueueService.UnsupportedOperation")
        }
        return ["ApproximateNumberOfMessagesMoved": .integer(Int64(task.moved))]
    }
}
