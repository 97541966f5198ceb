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
    static let defaults: [String: String] = [
        "VisibilityTimeout": "30", "MessageRetentionPeriod": "345600", "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "0", "MaximumMessageSize": "262144", "SqsManagedSseEnabled": "true",
    ]
    static let settable: Set = [
        "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy", "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy", "ContentBasedDeduplication", "DeduplicationScope",
        "FifoThroughputLimit", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
    ]
    static let ranges: [String: ClosedRange<Int>] = [
        "DelaySeconds": 0...900, "MaximumMessageSize": 1024...262_144, "MessageRetentionPeriod": 60...1_209_600,
        "ReceiveMessageWaitTimeSeconds": 0...20, "VisibilityTimeout": 0...43_200, "KmsDataKeyReusePeriodSeconds": 60...86_400,
    ]

    static func checkAttributes(_ attributes: [String: String], creating: Bool, fifo: Bool) throws {
        for (name, value) in attributes {
            guard settable.contains(name) || (creating && name == "FifoQueue") else { throw AWSError.invalidAttributeName(name) }
            if let range = ranges[name] {
                guard let n = Int(value), range.contains(n) else { throw AWSError.invalidAttributeValue(name) }
            }
            if ["FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"].contains(name), value != "true", value != "false" {
                throw AWSError.invalidAttributeValue(name)
            }
            if !fifo, ["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"].contains(name) {
                throw AWSError.invalidAttributeValue(name, reason: "Only FIFO queues support \(name).")
            }
            if name == "DeduplicationScope", !["messageGroup", "queue"].contains(value) { throw AWSError.invalidAttributeValue(name) }
            if name == "FifoThroughputLimit", !["perQueue", "perMessageGroupId"].contains(value) { throw AWSError.invalidAttributeValue(name) }
            // An empty Policy removes the policy; anything else must be a policy document SQS can evaluate.
            if name == "Policy", !value.isEmpty, (try? ResourcePolicy(text: value)) == nil { throw AWSError.invalidAttributeValue(name) }
            if name == "RedrivePolicy", !value.isEmpty { try checkRedriveShape(value) }
        }
    }

    /// A RedrivePolicy is a JSON map with both mandatory members, maxReceiveCount in 1...1000.
    static func invalidRedrive(_ value: String, _ reason: String) -> AWSError {
        .sqsInvalidParameter("Value \(value) for parameter RedrivePolicy is invalid. Reason: \(reason)")
    }

    static func checkRedriveShape(_ value: String) throws {
        func invalid(_ reason: String) -> AWSError { invalidRedrive(value, reason) }
        guard let json = try? JSONValue.parse(value), case .object = json else { throw invalid("Redrive policy is not a valid JSON map.") }
        for member in ["deadLetterTargetArn", "maxReceiveCount"] where json[member] == nil {
            throw invalid("Redrive policy does not contain mandatory attribute: \(member).")
        }
        guard json["deadLetterTargetArn"]?.string.flatMap(QueueRecord.key(arn:)) != nil else { throw invalid("Invalid value for deadLetterTargetArn.") }
        let count = json["maxReceiveCount"]
        guard let n = count.flatMap({ $0.int ?? $0.string.flatMap(Int.init) }), (1...1000).contains(n) else {
            let shown: String =
                switch count {
                case .number(let text)?, .string(let text)?: text
                default: "?"
                }
            throw invalid("Invalid value for maxReceiveCount: \(shown), valid values are from 1 to 1000 both inclusive.")
        }
    }

    /// A RedrivePolicy must name an existing queue of the same kind whose RedriveAllowPolicy admits the source.
    static func checkRedrive(_ db: Database, source: QueueRecord) throws {
        guard let text = source.attributes["RedrivePolicy"], let json = try? JSONValue.parse(text),
            let arn = json["deadLetterTargetArn"]?.string
        else { return }
        func invalid(_ reason: String) -> AWSError { invalidRedrive(text, reason) }
        guard let key = QueueRecord.key(arn: arn), let dlq = try QueueRecord.fetchOne(db, key: key) else { throw invalid("Dead-letter target does not exist.") }
        guard dlq.isFifo == source.isFifo else { throw invalid("Dead-letter queue must be same type of queue as the source.") }
        if let allow = dlq.attributes["RedriveAllowPolicy"].flatMap({ try? JSONValue.parse($0) }) {
            let permission = allow["redrivePermission"]?.string ?? "allowAll"
            let sources = allow["sourceQueueArns"]?.array?.compactMap(\.string) ?? []
            if permission == "denyAll" || (permission == "byQueue" && !sources.contains(source.arn)) {
                throw invalid("Queue \(dlq.arn) does not allow \(source.arn) to use it as a dead-letter queue.")
            }
        }
    }

    /// The caller as a queue policy sees it.
    static func principal(_ call: OperationCall) -> PolicyPrincipal {
        PolicyPrincipal(accountId: call.context.accountId, arn: call.context.identity?.arn)
    }

    func queueURL(_ q: QueueRecord, _ call: OperationCall) -> String { call.context.endpoint + "/" + q.accountId + "/" + q.name }

    /// The store key of the queue a request names by `QueueUrl` (or, for query clients, by the request path).
    static func queueKey(_ call: OperationCall) throws -> (key: String, url: String) {
        let url = call.string("QueueUrl") ?? call.request.path
        let parts = url.split(separator: "/").suffix(2)
        guard parts.count == 2 else { throw AWSError.queueDoesNotExist() }
        return (QueueRecord.key(account: String(parts.first!), region: call.context.region, name: String(parts.last!)), url)
    }

    /// Another account's queue: its policy must allow this caller and action.
    static func checkAccess(_ q: QueueRecord, _ call: OperationCall, url: String) throws {
        guard q.accountId != call.context.accountId else { return }
        guard QueuePolicy.allows(q.attributes["Policy"], principal: principal(call), action: "sqs:" + call.context.operation, queueArn: q.arn)
        else { throw AWSError.sqsAccessDenied(url) }
    }

    /// The queue a request names, read inside a write.
    func queue(_ call: OperationCall, _ db: Database) throws -> QueueRecord {
        let (key, url) = try Self.queueKey(call)
        guard let q = try QueueRecord.fetchOne(db, key: key) else { throw AWSError.queueDoesNotExist() }
        try Self.checkAccess(q, call, url: url)
        return q
    }

    /// The queue a request names, from memory when this process has not changed queues since.
    func queue(_ call: OperationCall) async throws -> QueueRecord {
        let (key, url) = try Self.queueKey(call)
        guard let q = try await queues.value(key, store: store, load: { db in try QueueRecord.fetchOne(db, key: key) }) else {
            throw AWSError.queueDoesNotExist()
        }
        try Self.checkAccess(q, call, url: url)
        return q
    }

    func createQueue(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.string("QueueName") ?? ""
        let fifo = name.hasSuffix(".fifo")
        let base = fifo ? String(name.dropLast(5)) : name
        guard (1...80).contains(name.count), !base.isEmpty,
            base.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            throw AWSError.sqsInvalidParameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
        }
        var attributes: [String: String] = [:]
        for (k, v) in call.input["Attributes"]?.members ?? [:] { attributes[k] = v.string ?? "" }
        if fifo != (attributes["FifoQueue"] == "true") && attributes["FifoQueue"] != nil || (!fifo && attributes["FifoQueue"] == "true") {
            throw AWSError.sqsInvalidParameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
        }
        try Self.checkAttributes(attributes, creating: true, fifo: fifo)
        var full = Self.defaults.merging(attributes) { _, new in new }
        if fifo {
            full["FifoQueue"] = "true"
            full["ContentBasedDeduplication"] = full["ContentBasedDeduplication"] ?? "false"
            full["DeduplicationScope"] = full["DeduplicationScope"] ?? "queue"
            full["FifoThroughputLimit"] = full["FifoThroughputLimit"] ?? "perQueue"
        }
        var tags: [String: String] = [:]
        for (k, v) in call.input["tags"]?.members ?? [:] { tags[k] = v.string ?? "" }
        let key = QueueRecord.key(account: call.context.accountId, region: call.context.region, name: name)
        let now = clock.now
        let record = QueueRecord(
            id: key, accountId: call.context.accountId, region: call.context.region, name: name, attributes: full, tags: tags,
            created: now, lastModified: now)
        let requested = attributes
        let stored = try await queues.write(store) { db -> QueueRecord in
            if let existing = try QueueRecord.fetchOne(db, key: key) {
                // Same name and same attributes: the same queue. Otherwise: QueueNameExists.
                for (k, v) in requested where existing.attributes[k] != v { throw AWSError.queueNameExists(name) }
                return existing
            }
            try Self.checkRedrive(db, source: record)
            try record.insert(db)
            return record
        }
        return ["QueueUrl": .string(queueURL(stored, call))]
    }

    func getQueueUrl(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.string("QueueName") ?? ""
        let account = call.string("QueueOwnerAWSAccountId") ?? call.context.accountId
        let key = QueueRecord.key(account: account, region: call.context.region, name: name)
        guard let q = try await store.read({ db in try QueueRecord.fetchOne(db, key: key) }) else { throw AWSError.queueDoesNotExist() }
        if q.accountId != call.context.accountId,
            !QueuePolicy.allows(q.attributes["Policy"], principal: Self.principal(call), action: "sqs:GetQueueUrl", queueArn: q.arn)
        {
            throw AWSError.sqsAccessDenied(queueURL(q, call))
        }
        return ["QueueUrl": .string(queueURL(q, call))]
    }

    func listQueues(_ call: OperationCall) async throws -> ShapeValue {
        let prefix = call.string("QueueNamePrefix") ?? ""
        let max = call.input["MaxResults"]?.int
        if let max, !(1...1000).contains(max) {
            throw AWSError.sqsInvalidParameter("Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.")
        }
        let after = try call.string("NextToken").map { token -> String in
            guard let p = PageToken.decode(token) else { throw AWSError.sqsInvalidParameter("Invalid NextToken value.") }
            return p
        } ?? ""
        let account = call.context.accountId, region = call.context.region
        let queues = try await store.read { db in
            try QueueRecord.fetchAll(
                db, sql: "SELECT * FROM sqs_queues WHERE accountId = ? AND region = ? AND name > ? ORDER BY name",
                arguments: [account, region, after])
        }.filter { $0.name.hasPrefix(prefix) }
        let page = max.map { Array(queues.prefix($0)) } ?? Array(queues.prefix(1000))
        var out: [String: ShapeValue] = [:]
        if !page.isEmpty { out["QueueUrls"] = .list(page.map { .string(queueURL($0, call)) }) }
        if let max, queues.count > max, let last = page.last { out["NextToken"] = .string(PageToken.encode(last.name)) }
        return .structure(out)
    }

    func deleteQueue(_ call: OperationCall) async throws -> ShapeValue {
        try await queues.write(store) { db in
            let q = try self.queue(call, db)
            _ = try q.delete(db)
        }
        return .empty
    }

    func getQueueAttributes(_ call: OperationCall) async throws -> ShapeValue {
        let names = Set((call.input["AttributeNames"]?.list ?? []).compactMap(\.string))
        let now = clock.now
        let (q, visible, inflight, delayed) = try await store.read { db -> (QueueRecord, Int, Int, Int) in
            let q = try self.queue(call, db)
            let visible = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqs_messages WHERE queue = ? AND visibleAt <= ?", arguments: [q.id, now.stored]) ?? 0
            let inflight = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM sqs_messages WHERE queue = ? AND visibleAt > ? AND receiveCount > 0", arguments: [q.id, now.stored]) ?? 0
            let delayed = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM sqs_messages WHERE queue = ? AND visibleAt > ? AND receiveCount = 0", arguments: [q.id, now.stored]) ?? 0
            return (q, visible, inflight, delayed)
        }
        var all = q.attributes
        all["ApproximateNumberOfMessages"] = String(visible)
        all["ApproximateNumberOfMessagesNotVisible"] = String(inflight)
        all["ApproximateNumberOfMessagesDelayed"] = String(delayed)
        all["CreatedTimestamp"] = String(Int(q.created.timeIntervalSince1970))
        all["LastModifiedTimestamp"] = String(Int(q.lastModified.timeIntervalSince1970))
        all["QueueArn"] = q.arn
        let known = Set(all.keys).union(["All"])
        for n in names where !known.contains(n) && !Self.settable.contains(n) && n != "FifoQueue" { throw AWSError.invalidAttributeName(n) }
        let wanted = names.contains("All") ? all : all.filter { names.contains($0.key) }
        return wanted.isEmpty ? .empty : ["Attributes": .map(wanted.mapValues { .string($0) })]
    }

    func setQueueAttributes(_ call: OperationCall) async throws -> ShapeValue {
        var attributes: [String: String] = [:]
        for (k, v) in call.input["Attributes"]?.members ?? [:] { attributes[k] = v.string ?? "" }
        let now = clock.now
        let changes = attributes
        try await queues.write(store) { db in
            var q = try self.queue(call, db)
            try Self.checkAttributes(changes, creating: false, fifo: q.isFifo)
            q.attributes.merge(changes) { _, new in new }
            // An empty policy removes it.
            for name in ["Policy", "RedrivePolicy", "RedriveAllowPolicy"] where q.attributes[name] == "" { q.attributes[name] = nil }
            q.lastModified = now
            try Self.checkRedrive(db, source: q)
            try q.update(db)
        }
        return .empty
    }

    func purgeQueue(_ call: OperationCall) async throws -> ShapeValue {
        let now = clock.now
        let window = scaled(60)
        try await queues.write(store) { db in
            var q = try self.queue(call, db)
            if let last = q.purgedAt, now.timeIntervalSince(last) < window { throw AWSError.purgeQueueInProgress(q.name) }
            try db.execute(sql: "DELETE FROM sqs_messages WHERE queue = ?", arguments: [q.id])
            q.purgedAt = now
            try q.update(db)
        }
        return .empty
    }

    func tagQueue(_ call: OperationCall) async throws -> ShapeValue {
        var tags: [String: String] = [:]
        for (k, v) in call.input["Tags"]?.members ?? [:] { tags[k] = v.string ?? "" }
        let added = tags
        try await queues.write(store) { db in
            var q = try self.queue(call, db)
            q.tags.merge(added) { _, new in new }
            guard q.tags.count <= 50 else { throw AWSError.sqsInvalidParameter("Too many tags added for queue \(q.name).") }
            try q.update(db)
        }
        return .empty
    }

    func untagQueue(_ call: OperationCall) async throws -> ShapeValue {
        let keys = (call.input["TagKeys"]?.list ?? []).compactMap(\.string)
        try await queues.write(store) { db in
            var q = try self.queue(call, db)
            for k in keys { q.tags[k] = nil }
            try q.update(db)
        }
        return .empty
    }

    func listQueueTags(_ call: OperationCall) async throws -> ShapeValue {
        let q = try await queue(call)
        return q.tags.isEmpty ? .empty : ["Tags": .map(q.tags.mapValues { .string($0) })]
    }

    func listDeadLetterSourceQueues(_ call: OperationCall) async throws -> ShapeValue {
        let target = try await queue(call)
        let account = call.context.accountId, region = call.context.region
        let sources = try await store.read { db in
            try QueueRecord.fetchAll(db, sql: "SELECT * FROM sqs_queues WHERE accountId = ? AND region = ?", arguments: [account, region])
        }.filter { q in
            q.attributes["RedrivePolicy"].flatMap { try? JSONValue.parse($0) }?["deadLetterTargetArn"]?.string == target.arn
        }
        return ["queueUrls": .list(sources.map { .string(queueURL($0, call)) })]
    }
}
