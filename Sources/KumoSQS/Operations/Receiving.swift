import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import ServiceLifecycle
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SQS {
    static func sequenceNumber(_ seq: Int64) -> String {
        let digits = String(seq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// A receipt handle: which message, and which receive of it.
    struct Receipt {
        var queue: String
        var seq: Int64
        var token: String

        var handle: String { Data("\(queue)\n\(seq)\n\(token)".utf8).base64EncodedString() }

        init(queue: String, seq: Int64, token: String) {
            self.queue = queue
            self.seq = seq
            self.token = token
        }

        init(_ handle: String) throws {
            guard let data = Data(base64Encoded: handle), let text = String(data: data, encoding: .utf8) else {
                throw AWSError.receiptHandleIsInvalid(handle)
            }
            let parts = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard parts.count == 3, let seq = Int64(parts[1]) else { throw AWSError.receiptHandleIsInvalid(handle) }
            self.init(queue: String(parts[0]), seq: seq, token: String(parts[2]))
        }
    }

    func receiveMessage(_ call: OperationCall) async throws -> ShapeValue {
        var q = try await queue(call)
        let max = call.input["MaxNumberOfMessages"]?.int ?? 1
        guard (1...10).contains(max) else {
            throw AWSError.sqsInvalidParameter("Value \(max) for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
        }
        let wait = call.input["WaitTimeSeconds"]?.int ?? Int(q.attributes["ReceiveMessageWaitTimeSeconds"] ?? "0") ?? 0
        guard (0...20).contains(wait) else {
            throw AWSError.sqsInvalidParameter("Value \(wait) for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.")
        }
        let visibility = Double(call.input["VisibilityTimeout"]?.int ?? Int(q.attributes["VisibilityTimeout"] ?? "30") ?? 30)
        // FIFO: a retried receive with the same attempt id gets the same messages and receipt
        // handles while they are still in flight from that receive (for five minutes).
        let attempt = q.isFifo ? call.input["ReceiveRequestAttemptId"]?.string.map { q.id + "\n" + $0 } : nil
        if let attempt, let again = try await attempts.repeated(attempt, store: store, now: clock.now) {
            return ["Messages": .list(again.map { render($0, call: call) })]
        }
        let deadline = ContinuousClock.now + .seconds(scaled(Double(wait)))
        while true {
            let generation = wakeups.generation(q.id)
            let (taken, nextVisible) = try await take(from: q, max: max, visibility: visibility)
            // A long poll ends early when Kumo shuts down, so it does not hold the shutdown up.
            if !taken.isEmpty || ContinuousClock.now >= deadline || Task.isShuttingDownGracefully {
                if let attempt, !taken.isEmpty { attempts.remember(attempt, taken, now: clock.now, until: clock.now.addingTimeInterval(scaled(300))) }
                return ["Messages": .list(taken.map { render($0, call: call) })]
            }
            var timeout = deadline - ContinuousClock.now
            if let nextVisible {
                let untilVisible = Duration.seconds(Swift.max(0, nextVisible.timeIntervalSince(clock.now)) + 0.001)
                timeout = Swift.min(timeout, untilVisible)
            }
            let queueId = q.id, wakeups = self.wakeups
            await withGracefulShutdownHandler {
                await wakeups.wait(queueId, since: generation, timeout: timeout)
            } onGracefulShutdown: {
                wakeups.notify(queueId)
            }
            try Task.checkCancellation()
            q = try await queue(call)
        }
    }

    /// Takes up to `max` visible messages, in order, making them invisible for `visibility`
    /// seconds; messages past their retention go, messages past maxReceiveCount move to the
    /// dead-letter queue. Also returns when the next hidden message becomes visible.
    func take(from q: QueueRecord, max: Int, visibility: Double) async throws -> ([MessageRecord], Date?) {
        let now = clock.now
        let retention = scaled(q.seconds("MessageRetentionPeriod", default: 345_600))
        let hidden = scaled(visibility)
        let redrive = q.attributes["RedrivePolicy"].flatMap { try? JSONValue.parse($0) }
        let maxReceives = redrive?["maxReceiveCount"].flatMap { $0.int ?? $0.string.flatMap(Int.init) }
        let dlqArn = redrive?["deadLetterTargetArn"]?.string
        let (taken, moved) = try await writes.write { db -> ([MessageRecord], String?) in
            try db.execute(sql: "DELETE FROM sqs_messages WHERE queue = ? AND sent < ?", arguments: [q.id, now.addingTimeInterval(-retention).stored])
            let candidates = try MessageRecord.fetchAll(
                db, sql: "SELECT * FROM sqs_messages INDEXED BY sqs_messages_order WHERE queue = ? AND visibleAt <= ? ORDER BY seq LIMIT ?",
                arguments: [q.id, now.stored, q.isFifo ? 1000 : max * 4])
            var blocked: Set<String> = []
            if q.isFifo {
                blocked = Set(try String.fetchAll(
                    db, sql: "SELECT DISTINCT groupId FROM sqs_messages WHERE queue = ? AND visibleAt > ? AND receiveCount > 0",
                    arguments: [q.id, now.stored]))
            }
            let dlq = try dlqArn.flatMap(QueueRecord.key(arn:)).flatMap { try QueueRecord.fetchOne(db, key: $0) }
            var out: [MessageRecord] = []
            var movedTo: String?
            for var m in candidates where out.count < max {
                if let maxReceives, let dlq, m.receiveCount >= maxReceives {
                    m.origin = m.origin ?? m.queue
                    m.queue = dlq.id
                    m.visibleAt = now
                    m.receipt = nil
                    try m.update(db)
                    movedTo = dlq.id
                    continue
                }
                // A FIFO group stays in order: while one of its messages is in flight, later ones wait.
                if q.isFifo, let g = m.groupId, blocked.contains(g) { continue }
                m.receiveCount += 1
                m.firstReceived = m.firstReceived ?? now
                m.visibleAt = now.addingTimeInterval(hidden)
                m.receipt = UUID().uuidString
                try m.update(db)
                out.append(m)
            }
            return (out, movedTo)
        }
        if let moved { wakeups.notify(moved) }
        count("NumberOfMessagesReceived", q, taken.count)
        var next: Date?
        if taken.isEmpty {
            next = try await store.read { db in
                try Date.fetchOne(db, sql: "SELECT MIN(visibleAt) FROM sqs_messages WHERE queue = ? AND visibleAt > ?", arguments: [q.id, now.stored])
            }
        }
        return (taken, next)
    }

    func render(_ m: MessageRecord, call: OperationCall) -> ShapeValue {
        var out: [String: ShapeValue] = [
            "MessageId": .string(m.messageId), "ReceiptHandle": .string(Receipt(queue: m.queue, seq: m.seq ?? 0, token: m.receipt ?? "").handle),
            "MD5OfBody": .string(m.md5Body), "Body": .string(m.body),
        ]
        let wantedAttributes = Set((call.input["MessageAttributeNames"]?.list ?? []).compactMap(\.string))
        let attributes = ShapeValue(storageJSON: (try? JSONValue.parse(m.attributes)) ?? .null).members ?? [:]
        let selected = attributes.filter { name, _ in
            wantedAttributes.contains("All") || wantedAttributes.contains(".*") || wantedAttributes.contains(name)
                || wantedAttributes.contains { $0.hasSuffix(".*") && name.hasPrefix($0.dropLast(1)) }
        }
        if !selected.isEmpty {
            out["MessageAttributes"] = .map(selected)
            if let md5 = Self.md5(ofAttributes: selected) { out["MD5OfMessageAttributes"] = .string(md5) }
        }
        let wanted = Set(
            ((call.input["AttributeNames"]?.list ?? []) + (call.input["MessageSystemAttributeNames"]?.list ?? [])).compactMap(\.string))
        if !wanted.isEmpty {
            var system: [String: String] = [
                "SenderId": call.context.identity?.accessKeyId ?? call.context.accountId,
                "SentTimestamp": String(Int64(m.sent.timeIntervalSince1970 * 1000)),
                "ApproximateReceiveCount": String(m.receiveCount),
                "ApproximateFirstReceiveTimestamp": String(Int64((m.firstReceived ?? m.sent).timeIntervalSince1970 * 1000)),
            ]
            if let g = m.groupId { system["MessageGroupId"] = g }
            if let d = m.dedupId { system["MessageDeduplicationId"] = d; system["SequenceNumber"] = Self.sequenceNumber(m.seq ?? 0) }
            if let t = m.traceHeader { system["AWSTraceHeader"] = t }
            let all = wanted.contains("All")
            let chosen = system.filter { all || wanted.contains($0.key) }
            if !chosen.isEmpty { out["Attributes"] = .map(chosen.mapValues { .string($0) }) }
        }
        return .structure(out)
    }

    /// Deletes by receipt handle. A handle of a message already gone, or of an earlier
    /// receive, succeeds without effect, as in SQS.
    func delete(_ handle: String, queue q: QueueRecord) async throws {
        let r = try Receipt(handle)
        guard r.queue == q.id else { throw AWSError.receiptHandleIsInvalid(handle) }
        let deleted = try await writes.write { db -> Int in
            try db.execute(sql: "DELETE FROM sqs_messages WHERE seq = ? AND queue = ? AND receipt = ?", arguments: [r.seq, q.id, r.token])
            return db.changesCount
        }
        count("NumberOfMessagesDeleted", q, deleted)
    }

    func deleteMessage(_ call: OperationCall) async throws -> ShapeValue {
        let q = try await queue(call)
        try await delete(call.string("ReceiptHandle") ?? "", queue: q)
        return .empty
    }

    func deleteMessageBatch(_ call: OperationCall) async throws -> ShapeValue {
        let q = try await queue(call)
        return try await batch(call) { e in try await delete(e["ReceiptHandle"]?.string ?? "", queue: q) }
    }

    /// Runs a batch's entries one by one: each succeeds or fails on its own.
    func batch(_ call: OperationCall, _ run: (ShapeValue) async throws -> Void) async throws -> ShapeValue {
        let entries = call.input["Entries"]?.list ?? []
        try Self.checkBatch(entries)
        var ok: [ShapeValue] = []
        var failed: [ShapeValue] = []
        for e in entries {
            let id = e["Id"]?.string ?? ""
            do {
                try await run(e)
                ok.append(["Id": .string(id)])
            } catch let err as AWSError {
                failed.append(Self.failure(id, err))
            }
        }
        return ["Successful": .list(ok), "Failed": .list(failed)]
    }

    func changeVisibility(_ handle: String, timeout: Int, queue q: QueueRecord) async throws {
        let r = try Receipt(handle)
        guard r.queue == q.id else { throw AWSError.receiptHandleIsInvalid(handle) }
        guard (0...43_200).contains(timeout) else {
            throw AWSError.sqsInvalidParameter("Value \(timeout) for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200.")
        }
        let now = clock.now
        let until = now.addingTimeInterval(scaled(Double(timeout)))
        try await writes.write { db in
            guard var m = try MessageRecord.fetchOne(db, key: r.seq), m.queue == q.id, m.receipt == r.token, m.visibleAt > now else {
                throw AWSError.messageNotInflight()
            }
            m.visibleAt = until
            try m.update(db)
        }
        if timeout == 0 { wakeups.notify(q.id) }
    }

    func changeMessageVisibility(_ call: OperationCall) async throws -> ShapeValue {
        let q = try await queue(call)
        try await changeVisibility(call.string("ReceiptHandle") ?? "", timeout: call.input["VisibilityTimeout"]?.int ?? 0, queue: q)
        return .empty
    }

    func changeMessageVisibilityBatch(_ call: OperationCall) async throws -> ShapeValue {
        let q = try await queue(call)
        return try await batch(call) { e in
            try await changeVisibility(e["ReceiptHandle"]?.string ?? "", timeout: e["VisibilityTimeout"]?.int ?? 0, queue: q)
        }
    }
}

/// FIFO receive attempts (`ReceiveRequestAttemptId`): which messages and receipts a receive
/// returned, for five (scaled) minutes. Kept in memory: a retry after a restart of Kumo is a new
/// receive.
final class ReceiveAttempts: Sendable {
    private let state = Mutex<[String: (messages: [(seq: Int64, receipt: String)], until: Date)]>([:])

    func remember(_ attempt: String, _ messages: [MessageRecord], now: Date, until: Date) {
        let taken = messages.compactMap { m in m.seq.flatMap { seq in m.receipt.map { (seq, $0) } } }
        state.withLock { s in
            if s.count > 10_000 { s = s.filter { $0.value.until > now } }
            s[attempt] = (taken, until)
        }
    }

    /// The messages an earlier receive with this attempt id returned, when all of them are still
    /// in flight from it (not deleted, their visibility not changed since).
    func repeated(_ attempt: String, store: Store, now: Date) async throws -> [MessageRecord]? {
        guard let earlier = state.withLock({ $0[attempt] }), earlier.until > now else { return nil }
        let rows = try await store.read { db in try MessageRecord.fetchAll(db, keys: earlier.messages.map(\.seq)) }
        let current = Dictionary(uniqueKeysWithValues: rows.compactMap { r in r.seq.map { ($0, r) } })
        var out: [MessageRecord] = []
        for (seq, receipt) in earlier.messages {
            guard let m = current[seq], m.receipt == receipt, m.visibleAt > now else { return nil }
            out.append(m)
        }
        return out
    }
}
