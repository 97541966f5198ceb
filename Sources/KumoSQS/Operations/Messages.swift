import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SQS {
    /// MD5 of message attributes as SQS computes it (the SDKs check it): per attribute, sorted by
    /// name, the length-prefixed name, data type, a transport byte (1 string, 2 binary) and value.
    static func md5(ofAttributes attributes: [String: ShapeValue]) -> String? {
        guard !attributes.isEmpty else { return nil }
        var bytes: [UInt8] = []
        func append(_ data: [UInt8]) {
            let n = UInt32(data.count)
            bytes += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            bytes += data
        }
        for name in attributes.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let value = attributes[name]!
            append(Array(name.utf8))
            append(Array((value["DataType"]?.string ?? "").utf8))
            if let s = value["StringValue"]?.string {
                bytes.append(1)
                append(Array(s.utf8))
            } else if let b = value["BinaryValue"]?.bytes {
                bytes.append(2)
                append(b)
            }
        }
        return Hashing.md5Hex(bytes)
    }

    static func checkAttributes(_ attributes: [String: ShapeValue]) throws {
        guard attributes.count <= 10 else {
            throw AWSError.sqsInvalidParameter("Number of message attributes [\(attributes.count)] exceeds the allowed maximum [10].")
        }
        for (name, v) in attributes {
            let type = v["DataType"]?.string ?? ""
            guard type.hasPrefix("String") || type.hasPrefix("Number") || type.hasPrefix("Binary") else {
                throw AWSError.sqsInvalidParameter("The type of message (user) attribute '\(name)' is invalid. You must use only the following supported type prefixes: Binary, Number, String.")
            }
            if type.hasPrefix("Binary") ? v["BinaryValue"] == nil : v["StringValue"] == nil {
                throw AWSError.sqsInvalidParameter("Message (user) attribute '\(name)' must contain a non-empty value of type '\(type)'.")
            }
        }
    }

    struct Outgoing: Sendable {
        var record: MessageRecord
        var attributes: [String: ShapeValue]
        var sequenceNumber: String?
        var duplicateOf: String?
    }

    /// Checks one message against its queue and builds its record.
    func prepare(_ entry: ShapeValue, queue q: QueueRecord, now: Date) throws -> (MessageRecord, [String: ShapeValue]) {
        guard let body = entry["MessageBody"]?.string, !body.isEmpty else {
            throw AWSError(code: "MissingParameter", message: "The request must contain the parameter MessageBody.", queryCode: "MissingParameter")
        }
        let max = Int(q.attributes["MaximumMessageSize"] ?? "") ?? 262_144
        let attributes = entry["MessageAttributes"]?.members ?? [:]
        try Self.checkAttributes(attributes)
        let size = body.utf8.count + attributes.reduce(0) { $0 + $1.key.utf8.count + ($1.value["StringValue"]?.string?.utf8.count ?? $1.value["BinaryValue"]?.bytes?.count ?? 0) }
        guard size <= max else {
            throw AWSError.sqsInvalidParameter("One or more parameters are invalid. Reason: Message must be shorter than \(max) bytes.")
        }
        guard body.unicodeScalars.allSatisfy({ s in
            s == "\t" || s == "\n" || s == "\r" || (s.value >= 0x20 && s.value <= 0xD7FF) || (s.value >= 0xE000 && s.value <= 0xFFFD) || s.value >= 0x10000
        }) else {
            throw AWSError(code: "InvalidMessageContents", message: "Invalid characters found.", queryCode: "InvalidMessageContents")
        }
        var delay = Double(q.attributes["DelaySeconds"] ?? "0") ?? 0
        var groupId = entry["MessageGroupId"]?.string
        var dedupId = entry["MessageDeduplicationId"]?.string
        if let d = entry["DelaySeconds"]?.int {
            guard (0...900).contains(d) else { throw AWSError.sqsInvalidParameter("Value \(d) for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.") }
            if q.isFifo {
                throw AWSError.sqsInvalidParameter("Value \(d) for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")
            }
            delay = Double(d)
        }
        if q.isFifo {
            guard groupId != nil else {
                throw AWSError(code: "MissingParameter", message: "The request must contain the parameter MessageGroupId.", queryCode: "MissingParameter")
            }
            if dedupId == nil {
                guard q.attributes["ContentBasedDeduplication"] == "true" else {
                    throw AWSError.sqsInvalidParameter("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
                }
                dedupId = Hashing.sha256Hex(Array(body.utf8))
            }
        } else {
            dedupId = nil
            if groupId?.isEmpty == true { groupId = nil }
        }
        let trace = entry["MessageSystemAttributes"]?["AWSTraceHeader"]?["StringValue"]?.string
        let record = MessageRecord(
            seq: nil, queue: q.id, messageId: UUID().uuidString.lowercased(), body: body,
            attributes: ShapeValue.map(attributes).storageJSON.serialized(), md5Body: Hashing.md5Hex(Array(body.utf8)),
            md5Attributes: Self.md5(ofAttributes: attributes), sent: now, visibleAt: now.addingTimeInterval(scaled(delay)),
            receiveCount: 0, firstReceived: nil, receipt: nil, groupId: groupId, dedupId: dedupId, traceHeader: trace, origin: nil)
        return (record, attributes)
    }

    /// Stores prepared messages (with other senders' messages in one group commit); FIFO
    /// duplicates within 5 minutes return the first id.
    func enqueue(_ queue: QueueRecord, _ records: [MessageRecord], now: Date) async throws -> [(messageId: String, sequence: String?)] {
        let window = scaled(300)
        let results = try await writes.write { db -> [(String, String?)] in
            var out: [(String, String?)] = []
            for var r in records {
                if let dedup = r.dedupId {
                    try db.execute(sql: "DELETE FROM sqs_dedup WHERE queue = ? AND expires <= ?", arguments: [queue.id, now.stored])
                    if let existing = try String.fetchOne(
                        db, sql: "SELECT messageId FROM sqs_dedup WHERE queue = ? AND dedupId = ?", arguments: [queue.id, dedup])
                    {
                        out.append((existing, nil))
                        continue
                    }
                    try db.execute(
                        sql: "INSERT INTO sqs_dedup (queue, dedupId, messageId, expires) VALUES (?, ?, ?, ?)",
                        arguments: [queue.id, dedup, r.messageId, now.addingTimeInterval(window).stored])
                }
                try r.insert(db)
                out.append((r.messageId, queue.isFifo ? Self.sequenceNumber(r.seq ?? 0) : nil))
            }
            return out
        }
        wakeups.notify(queue.id)
        count("NumberOfMessagesSent", queue, results.count)
        return results.map { (messageId: $0.0, sequence: $0.1) }
    }

    func sendMessage(_ call: OperationCall) async throws -> ShapeValue {
        let q = try await queue(call)
        let now = clock.now
        let (record, _) = try prepare(call.input, queue: q, now: now)
        let sent = try await enqueue(q, [record], now: now)[0]
        var out: [String: ShapeValue] = ["MessageId": .string(sent.messageId), "MD5OfMessageBody": .string(record.md5Body)]
        if let m = record.md5Attributes { out["MD5OfMessageAttributes"] = .string(m) }
        if let s = sent.sequence { out["SequenceNumber"] = .string(s) }
        return .structure(out)
    }

    /// Checks batch entry ids: present, distinct, well formed, at most ten.
    static func checkBatch(_ entries: [ShapeValue]) throws {
        guard !entries.isEmpty else { throw AWSError.emptyBatch() }
        guard entries.count <= 10 else { throw AWSError.tooManyEntries(entries.count) }
        var seen: Set<String> = []
        for e in entries {
            let id = e["Id"]?.string ?? ""
            guard !id.isEmpty, id.count <= 80, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw AWSError.invalidBatchEntryId(id)
            }
            guard seen.insert(id).inserted else { throw AWSError.idsNotDistinct(id) }
        }
    }

    static func failure(_ id: String, _ e: AWSError) -> ShapeValue {
        ["Id": .string(id), "Code": .string(e.queryCode ?? e.code), "Message": .string(e.message), "SenderFault": .boolean(e.isSenderFault)]
    }

    func sendMessageBatch(_ call: OperationCall) async throws -> ShapeValue {
        let q = try await queue(call)
        let entries = call.input["Entries"]?.list ?? []
        try Self.checkBatch(entries)
        let now = clock.now
        var prepared: [(String, MessageRecord)] = []
        var failed: [ShapeValue] = []
        var total = 0
        for e in entries {
            let id = e["Id"]?.string ?? ""
            do {
                let (record, _) = try prepare(e, queue: q, now: now)
                total += record.body.utf8.count
                prepared.append((id, record))
            } catch let err as AWSError {
                failed.append(Self.failure(id, err))
            }
        }
        let max = Int(q.attributes["MaximumMessageSize"] ?? "") ?? 262_144
        guard total <= max else {
            throw AWSError(
                code: "BatchRequestTooLong", message: "Batch requests cannot be longer than \(max) bytes. You have sent \(total) bytes.",
                queryCode: "AWS.SimpleQueueService.BatchRequestTooLong")
        }
        let sent = prepared.isEmpty ? [] : try await enqueue(q, prepared.map(\.1), now: now)
        var ok: [ShapeValue] = []
        for ((id, record), s) in zip(prepared, sent) {
            var entry: [String: ShapeValue] = ["Id": .string(id), "MessageId": .string(s.messageId), "MD5OfMessageBody": .string(record.md5Body)]
            if let m = record.md5Attributes { entry["MD5OfMessageAttributes"] = .string(m) }
            if let seq = s.sequence { entry["SequenceNumber"] = .string(seq) }
            ok.append(.structure(entry))
        }
        return ["Successful": .list(ok), "Failed": .list(failed)]
    }
}
