public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Amazon SQS: durable standard and FIFO queues in the store, with long polling
/// that wakes on the send that makes a message available.
public struct SQSProvider: ServiceProvider {
    public let service = "sqs"
    public let validatesEnums = false
    public let operations: [String: OperationHandler]
    let sqs: SQS

    /// - Parameter metrics: where queue metrics go (AWS/SQS in CloudWatch's terms).
    public init(store: Store, clock: KumoClock, metrics: ServiceMetrics? = nil) {
        sqs = SQS(store: store, clock: clock, wakeups: Wakeups(), metrics: metrics)
        operations = sqs.operationTable()
        let sqs = self.sqs
        metrics?.addGauges { (try? await sqs.queueGauges()) ?? [] }
    }

    public func reset() async throws {
        try await sqs.store.clear(tables: Self.tables)
        sqs.queues.invalidate()
    }

    /// A query client posts to the queue's URL (`/<account>/<name>`) instead of sending `QueueUrl`.
    public func completeInput(_ input: inout ShapeValue, request: ProtocolRequest, context: RequestContext) {
        guard case .structure(var members) = input, members["QueueUrl"] == nil else { return }
        let parts = request.path.split(separator: "/")
        guard parts.count == 2, parts[0].count == 12, parts[0].allSatisfy(\.isNumber) else { return }
        members["QueueUrl"] = .string(context.endpoint + request.path)
        input = .structure(members)
    }
}

struct SQS: Sendable {
    let store: Store
    let clock: KumoClock
    let wakeups: Wakeups
    let metrics: ServiceMetrics?
    /// Concurrent sends, receives, deletes and visibility changes share transactions.
    let writes: GroupCommit
    /// Queue rows by key; every write to queues goes through `queues.write`.
    let queues = KeyedCache<QueueRecord>()
    /// FIFO receive attempts, for retries with the same ReceiveRequestAttemptId.
    let attempts = ReceiveAttempts()

    init(store: Store, clock: KumoClock, wakeups: Wakeups, metrics: ServiceMetrics?) {
        self.store = store
        self.clock = clock
        self.wakeups = wakeups
        self.metrics = metrics
        writes = GroupCommit(store: store)
    }

    func count(_ name: String, _ queue: QueueRecord, _ n: Int) {
        guard n > 0 else { return }
        metrics?.add(Double(n), to: MetricKey(namespace: "AWS/SQS", name: name, dimensions: [("QueueName", queue.name)]))
    }

    /// ApproximateNumberOfMessagesVisible/NotVisible/Delayed and ApproximateAgeOfOldestMessage per queue.
    func queueGauges() async throws -> [(MetricKey, Double)] {
        let now = clock.now
        struct Depth: Sendable {
            var name: String
            var visible: Int
            var inflight: Int
            var delayed: Int
            var oldest: Date?
        }
        let depths = try await store.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT q.name AS name,
                      SUM(CASE WHEN m.visibleAt <= ? THEN 1 ELSE 0 END) AS visible,
                      SUM(CASE WHEN m.visibleAt > ? AND m.receiveCount > 0 THEN 1 ELSE 0 END) AS inflight,
                      SUM(CASE WHEN m.visibleAt > ? AND m.receiveCount = 0 THEN 1 ELSE 0 END) AS delayed,
                      MIN(m.sent) AS oldest
                    FROM sqs_queues q LEFT JOIN sqs_messages m ON m.queue = q.id GROUP BY q.id
                    """, arguments: [now.stored, now.stored, now.stored]
            ).map { row in
                Depth(name: row["name"], visible: row["visible"] ?? 0, inflight: row["inflight"] ?? 0, delayed: row["delayed"] ?? 0, oldest: row["oldest"])
            }
        }
        var out: [(MetricKey, Double)] = []
        for d in depths {
            func key(_ metric: String) -> MetricKey { MetricKey(namespace: "AWS/SQS", name: metric, dimensions: [("QueueName", d.name)]) }
            out.append((key("ApproximateNumberOfMessagesVisible"), Double(d.visible)))
            out.append((key("ApproximateNumberOfMessagesNotVisible"), Double(d.inflight)))
            out.append((key("ApproximateNumberOfMessagesDelayed"), Double(d.delayed)))
            out.append((key("ApproximateAgeOfOldestMessage"), d.oldest.map { Swift.max(0, now.timeIntervalSince($0).rounded()) } ?? 0))
        }
        return out
    }

    func operationTable() -> [String: OperationHandler] {
        OperationHandler.table(self, [
            "CreateQueue": SQS.createQueue,
            "GetQueueUrl": SQS.getQueueUrl,
            "ListQueues": SQS.listQueues,
            "DeleteQueue": SQS.deleteQueue,
            "GetQueueAttributes": SQS.getQueueAttributes,
            "SetQueueAttributes": SQS.setQueueAttributes,
            "PurgeQueue": SQS.purgeQueue,
            "TagQueue": SQS.tagQueue,
            "UntagQueue": SQS.untagQueue,
            "ListQueueTags": SQS.listQueueTags,
            "ListDeadLetterSourceQueues": SQS.listDeadLetterSourceQueues,
            "SendMessage": SQS.sendMessage,
            "SendMessageBatch": SQS.sendMessageBatch,
            "ReceiveMessage": SQS.receiveMessage,
            "DeleteMessage": SQS.deleteMessage,
            "DeleteMessageBatch": SQS.deleteMessageBatch,
            "ChangeMessageVisibility": SQS.changeMessageVisibility,
            "ChangeMessageVisibilityBatch": SQS.changeMessageVisibilityBatch,
            "StartMessageMoveTask": SQS.startMessageMoveTask,
            "ListMessageMoveTasks": SQS.listMessageMoveTasks,
            "CancelMessageMoveTask": SQS.cancelMessageMoveTask,
        ])
    }

    /// Real time for an AWS duration in seconds, under `--time-scale`.
    func scaled(_ seconds: Double) -> TimeInterval { seconds * clock.timeScale }
}

/// Wakes long-polling receivers when a queue may have a message for them.
///
/// A receiver notes the queue's generation before it looks; `wait` returns at once
/// if a send happened since, so a message sent between looking and waiting is never missed.
final class Wakeups: Sendable {
    private struct State {
        var generation: [String: UInt64] = [:]
        var waiters: [String: [Int: CheckedContinuation<Void, Never>]] = [:]
        /// Waits that ended (timed out) before their continuation was registered.
        var ended: Set<Int> = []
        var nextId = 0
    }

    private let state = Mutex(State())

    func generation(_ queue: String) -> UInt64 { state.withLock { $0.generation[queue, default: 0] } }

    func notify(_ queue: String) {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation[queue, default: 0] &+= 1
            return Array((s.waiters.removeValue(forKey: queue) ?? [:]).values)
        }
        for c in woken { c.resume() }
    }

    /// Waits until `notify(queue)` (after `generation`) or `timeout`, whichever is first.
    func wait(_ queue: String, since generation: UInt64, timeout: Duration) async {
        let id = state.withLock { s -> Int in
            s.nextId += 1
            return s.nextId
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = self.state.withLock { s -> Bool in
                        if s.ended.remove(id) != nil || s.generation[queue, default: 0] != generation { return true }
                        s.waiters[queue, default: [:]][id] = c
                        return false
                    }
                    if now { c.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.cancel(queue, id)
            }
            await group.next()
            group.cancelAll()
            self.cancel(queue, id)
        }
        state.withLock { _ = $0.ended.remove(id) }
    }

    private func cancel(_ queue: String, _ id: Int) {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let c = s.waiters[queue]?.removeValue(forKey: id) { return c }
            s.ended.insert(id)
            return nil
        }
        c?.resume()
    }
}


extension OperationCall {
    func string(_ member: String) -> String? { input[member]?.string }
}
