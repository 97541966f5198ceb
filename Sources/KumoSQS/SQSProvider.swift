public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB
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

    public init(store: Store, clock: KumoClock) {
        sqs = SQS(store: store, clock: clock, wakeups: Wakeups())
        operations = sqs.operationTable()
    }

    public func reset() async throws {
        try await sqs.store.clear(tables: Self.tables)
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

    func operationTable() -> [String: OperationHandler] {
        var t: [String: OperationHandler] = [:]
        func add(_ name: String, _ f: @escaping @Sendable (SQS) -> (OperationCall) async throws -> ShapeValue) {
            let sqs = self
            t[name] = OperationHandler { call in try await f(sqs)(call) }
        }
        add("CreateQueue", SQS.createQueue)
        add("GetQueueUrl", SQS.getQueueUrl)
        add("ListQueues", SQS.listQueues)
        add("DeleteQueue", SQS.deleteQueue)
        add("GetQueueAttributes", SQS.getQueueAttributes)
        add("SetQueueAttributes", SQS.setQueueAttributes)
        add("PurgeQueue", SQS.purgeQueue)
        add("TagQueue", SQS.tagQueue)
        add("UntagQueue", SQS.untagQueue)
        add("ListQueueTags", SQS.listQueueTags)
        add("ListDeadLetterSourceQueues", SQS.listDeadLetterSourceQueues)
        add("SendMessage", SQS.sendMessage)
        add("SendMessageBatch", SQS.sendMessageBatch)
        add("ReceiveMessage", SQS.receiveMessage)
        add("DeleteMessage", SQS.deleteMessage)
        add("DeleteMessageBatch", SQS.deleteMessageBatch)
        add("ChangeMessageVisibility", SQS.changeMessageVisibility)
        add("ChangeMessageVisibilityBatch", SQS.changeMessageVisibilityBatch)
        add("StartMessageMoveTask", SQS.startMessageMoveTask)
        add("ListMessageMoveTasks", SQS.listMessageMoveTasks)
        add("CancelMessageMoveTask", SQS.cancelMessageMoveTask)
        return t
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

import Synchronization

extension OperationCall {
    func string(_ member: String) -> String? { input[member]?.string }
}
