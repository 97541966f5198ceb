import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CloudWatch Logs: groups, streams and events in the store.
struct Logs: Sendable {
    let store: Store
    let clock: KumoClock

    static let retentionValues: Set = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]

    var nowMillis: Int64 { Int64(clock.now.timeIntervalSince1970 * 1000) }

    func arn(_ account: String, _ region: String, _ group: String) -> String { "arn:aws:logs:\(region):\(account):log-group:\(group)" }

    static func notFound(_ what: String) -> AWSError {
        AWSError(code: "ResourceNotFoundException", message: "The specified \(what) does not exist.")
    }

    static func invalid(_ message: String) -> AWSError { AWSError(code: "InvalidParameterException", message: message) }

    func group(_ db: Database, _ name: String, account: String, region: String) throws -> GroupRecord {
        guard let g = try GroupRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) else { throw Self.notFound("log group") }
        return g
    }

    /// The group named by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
    static func groupName(_ input: ShapeValue) -> String {
        input["logGroupName"]?.string ?? groupName(identifier: input["logGroupIdentifier"]?.string ?? "")
    }

    /// The group a log group identifier (a name or an ARN, with or without `:*`) names.
    static func groupName(identifier id: String) -> String {
        guard id.hasPrefix("arn:") else { return id }
        var name = String(id.split(separator: ":", maxSplits: 6).last ?? "")
        if name.hasSuffix(":*") { name.removeLast(2) }
        return name
    }

    static func page<T>(_ items: [T], token: String?, limit: Int) throws -> ([T], String?) {
        let page = try PageToken.page(items, after: token, limit: limit, invalid: invalid("The specified nextToken is invalid."))
        return (page.items, page.next)
    }

    // MARK: groups

    func createLogGroup(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["logGroupName"]?.string ?? ""
        guard !name.isEmpty, name.count <= 512, name.allSatisfy({ $0.isLetter || $0.isNumber || "_-/.#".contains($0) }) else {
            throw Self.invalid("1 validation error detected: Value '\(name)' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
        }
        let account = call.context.accountId, region = call.context.region
        let now = nowMillis
        try await store.write { db in
            if try GroupRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) != nil {
                throw AWSError(code: "ResourceAlreadyExistsException", message: "The specified log group already exists")
            }
            try GroupRecord(accountId: account, region: region, name: name, created: now, retentionDays: nil).insert(db)
        }
        return .empty
    }

    func deleteLogGroup(_ call: OperationCall) async throws -> ShapeValue {
        let name = Self.groupName(call.input)
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            let g = try self.group(db, name, account: account, region: region)
            try g.delete(db)
            try StreamRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name).deleteAll(db)
            try EventRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name).deleteAll(db)
        }
        return .empty
    }

    func describeLogGroups(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let (groups, bytes) = try await store.read { db -> ([GroupRecord], [String: Int64]) in
            let groups = try GroupRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("name")).fetchAll(db)
            var bytes: [String: Int64] = [:]
            for s in try StreamRecord.filter(Column("accountId") == account && Column("region") == region).fetchAll(db) {
                bytes[s.groupName, default: 0] += s.storedBytes
            }
            return (groups, bytes)
        }
        var rows = groups
        if let prefix = input["logGroupNamePrefix"]?.string { rows = rows.filter { $0.name.hasPrefix(prefix) } }
        if let pattern = input["logGroupNamePattern"]?.string { rows = rows.filter { $0.name.lowercased().contains(pattern.lowercased()) } }
        let (page, next) = try Self.page(rows, token: input["nextToken"]?.string, limit: input["limit"]?.int ?? 50)
        var out: [String: ShapeValue] = ["logGroups": .list(page.map { g in
            var m: [String: ShapeValue] = [
                "logGroupName": .string(g.name), "creationTime": .integer(g.created), "metricFilterCount": 0,
                "arn": .string(arn(account, region, g.name) + ":*"), "logGroupArn": .string(arn(account, region, g.name)),
                "storedBytes": .integer(bytes[g.name] ?? 0), "logGroupClass": "STANDARD",
            ]
            if let days = g.retentionDays { m["retentionInDays"] = .integer(Int64(days)) }
            return .structure(m)
        })]
        if let next { out["nextToken"] = .string(next) }
        return .structure(out)
    }

    func putRetentionPolicy(_ call: OperationCall) async throws -> ShapeValue {
        let days = call.input["retentionInDays"]?.int ?? 0
        guard Self.retentionValues.contains(days) else {
            throw Self.invalid("1 validation error detected: Value '\(days)' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]")
        }
        try await setRetention(call, days: days)
        return .empty
    }

    func deleteRetentionPolicy(_ call: OperationCall) async throws -> ShapeValue {
        try await setRetention(call, days: nil)
        return .empty
    }

    func setRetention(_ call: OperationCall, days: Int?) async throws {
        let name = Self.groupName(call.input)
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            var g = try self.group(db, name, account: account, region: region)
            g.retentionDays = days
            try g.update(db)
        }
    }

    // MARK: streams

    func createLogStream(_ call: OperationCall) async throws -> ShapeValue {
        let group = Self.groupName(call.input)
        let name = call.input["logStreamName"]?.string ?? ""
        guard !name.isEmpty, !name.contains(":"), !name.contains("*") else {
            throw Self.invalid("1 validation error detected: Value '\(name)' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*")
        }
        let account = call.context.accountId, region = call.context.region
        let now = nowMillis
        try await store.write { db in
            _ = try self.group(db, group, account: account, region: region)
            if try StreamRecord.fetchOne(db, key: ["accountId": account, "region": region, "groupName": group, "name": name]) != nil {
                throw AWSError(code: "ResourceAlreadyExistsException", message: "The specified log stream already exists")
            }
            try StreamRecord(accountId: account, region: region, groupName: group, name: name, created: now, storedBytes: 0).insert(db)
        }
        return .empty
    }

    func deleteLogStream(_ call: OperationCall) async throws -> ShapeValue {
        let group = Self.groupName(call.input)
        let name = call.input["logStreamName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            guard let s = try StreamRecord.fetchOne(db, key: ["accountId": account, "region": region, "groupName": group, "name": name]) else {
                throw Self.notFound("log stream")
            }
            try s.delete(db)
            try EventRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == group && Column("streamName") == name)
                .deleteAll(db)
        }
        return .empty
    }

    func describeLogStreams(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let group = Self.groupName(input)
        let account = call.context.accountId, region = call.context.region
        var rows = try await store.read { db -> [StreamRecord] in
            _ = try self.group(db, group, account: account, region: region)
            return try StreamRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == group).fetchAll(db)
        }
        if let prefix = input["logStreamNamePrefix"]?.string {
            guard input["orderBy"]?.string != "LastEventTime" else {
                throw Self.invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
            }
            rows = rows.filter { $0.name.hasPrefix(prefix) }
        }
        if input["orderBy"]?.string == "LastEventTime" {
            rows.sort { ($0.lastEvent ?? 0, $0.name) < ($1.lastEvent ?? 0, $1.name) }
        } else {
            rows.sort { $0.name < $1.name }
        }
        if input["descending"]?.bool == true { rows.reverse() }
        let (page, next) = try Self.page(rows, token: input["nextToken"]?.string, limit: input["limit"]?.int ?? 50)
        var out: [String: ShapeValue] = ["logStreams": .list(page.map { s in
            var m: [String: ShapeValue] = [
                "logStreamName": .string(s.name), "creationTime": .integer(s.created), "storedBytes": .integer(s.storedBytes),
                "arn": .string(arn(account, region, group) + ":log-stream:" + s.name),
            ]
            if let f = s.firstEvent { m["firstEventTimestamp"] = .integer(f) }
            if let l = s.lastEvent { m["lastEventTimestamp"] = .integer(l) }
            if let i = s.lastIngestion { m["lastIngestionTime"] = .integer(i) }
            return .structure(m)
        })]
        if let next { out["nextToken"] = .string(next) }
        return .structure(out)
    }

    // MARK: events

    func putLogEvents(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let group = Self.groupName(input)
        let stream = input["logStreamName"]?.string ?? ""
        let events = (input["logEvents"]?.list ?? []).map { (timestamp: $0["timestamp"]?.int.map(Int64.init) ?? 0, message: $0["message"]?.string ?? "") }
        guard !events.isEmpty else { throw Self.invalid("1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1") }
        for i in events.indices.dropFirst() where events[i].timestamp < events[i - 1].timestamp {
            throw Self.invalid("Log events in a single PutLogEvents request must be in chronological order.")
        }
        let now = nowMillis
        var rejected: [String: ShapeValue] = [:]
        let account = call.context.accountId, region = call.context.region
        let scale = clock.timeScale
        let (tooOld, tooNew) = try await store.write { db in
            let g = try self.group(db, group, account: account, region: region)
            guard let s = try StreamRecord.fetchOne(db, key: ["accountId": account, "region": region, "groupName": group, "name": stream]) else {
                throw Self.notFound("log stream")
            }
            // AWS accepts events from 14 days ago (or the group's retention, when shorter) to 2 hours
            // ahead; the rest is reported, not stored. Retention days follow --time-scale, as the sweep does.
            var oldest = now - 14 * 86_400_000
            if let days = g.retentionDays { oldest = max(oldest, now - Int64(Double(days) * 86_400_000 * scale)) }
            let tooOld = events.lastIndex { $0.timestamp < oldest }
            let tooNew = events.firstIndex { $0.timestamp > now + 2 * 3_600_000 }
            let accepted = events[(tooOld.map { $0 + 1 } ?? 0)..<(tooNew ?? events.count)]
            try self.insert(db, s, Array(accepted), ingestion: now)
            return (tooOld, tooNew)
        }
        if let tooOld { rejected["tooOldLogEventEndIndex"] = .integer(Int64(tooOld)) }
        if let tooNew { rejected["tooNewLogEventStartIndex"] = .integer(Int64(tooNew)) }
        var out: [String: ShapeValue] = ["nextSequenceToken": .string(String(now))]
        if !rejected.isEmpty { out["rejectedLogEventsInfo"] = .structure(rejected) }
        return .structure(out)
    }

    func insert(_ db: Database, _ stream: StreamRecord, _ events: [(timestamp: Int64, message: String)], ingestion: Int64) throws {
        guard !events.isEmpty else { return }
        var s = stream
        // One prepared statement for the batch (load balancer access logs arrive thousands a second).
        let statement = try db.cachedStatement(
            sql: "INSERT INTO logs_events (accountId, region, groupName, streamName, timestamp, ingestion, message) VALUES (?, ?, ?, ?, ?, ?, ?)")
        for e in events {
            try statement.execute(arguments: [s.accountId, s.region, s.groupName, s.name, e.timestamp, ingestion, e.message])
            s.storedBytes += Int64(e.message.utf8.count + 26)
            s.firstEvent = min(s.firstEvent ?? e.timestamp, e.timestamp)
            s.lastEvent = max(s.lastEvent ?? e.timestamp, e.timestamp)
        }
        s.lastIngestion = ingestion
        try s.update(db)
    }

    static func eventShape(_ e: EventRecord) -> ShapeValue {
        ["timestamp": .integer(e.timestamp), "message": .string(e.message), "ingestionTime": .integer(e.ingestion)]
    }

    func getLogEvents(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let group = Self.groupName(input)
        let stream = input["logStreamName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let limit = input["limit"]?.int ?? 10000
        var forward = input["startFromHead"]?.bool ?? false
        var after: Int64?
        var before: Int64?
        if let token = input["nextToken"]?.string {
            guard let p = PageToken.decode(token), let n = Int64(p.dropFirst(2)) else { throw Self.invalid("The specified nextToken is invalid.") }
            if p.hasPrefix("f/") { forward = true; after = n } else { forward = false; before = n }
        }
        let (isForward, afterId, beforeId) = (forward, after, before)
        let events = try await store.read { db -> [EventRecord] in
            guard try StreamRecord.fetchOne(db, key: ["accountId": account, "region": region, "groupName": group, "name": stream]) != nil else {
                throw Self.notFound("log stream")
            }
            var q = EventRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == group && Column("streamName") == stream)
            if let s = input["startTime"]?.int { q = q.filter(Column("timestamp") >= Int64(s)) }
            if let e = input["endTime"]?.int { q = q.filter(Column("timestamp") < Int64(e)) }
            if let afterId { q = q.filter(Column("id") > afterId) }
            if let beforeId { q = q.filter(Column("id") < beforeId) }
            let rows = try q.order(isForward ? Column("id").asc : Column("id").desc).limit(limit).fetchAll(db)
            return isForward ? rows : rows.reversed()
        }
        let last = events.last?.id ?? after ?? 0
        let first = events.first?.id ?? before ?? Int64.max
        return [
            "events": .list(events.map(Self.eventShape)),
            "nextForwardToken": .string(PageToken.encode("f/" + String(last))), "nextBackwardToken": .string(PageToken.encode("b/" + String(first))),
        ]
    }

    func filterLogEvents(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let group = Self.groupName(input)
        let account = call.context.accountId, region = call.context.region
        let pattern = FilterPattern(input["filterPattern"]?.string)
        let names = (input["logStreamNames"]?.list ?? []).compactMap(\.string)
        let prefix = input["logStreamNamePrefix"]?.string
        let limit = input["limit"]?.int ?? 10000
        // Events come in timestamp order (then id); the token is the last event's timestamp and id.
        var after: (timestamp: Int64, id: Int64)?
        if let token = input["nextToken"]?.string {
            let parts = PageToken.decode(token)?.split(separator: "/").compactMap { Int64($0) } ?? []
            guard parts.count == 2 else { throw Self.invalid("The specified nextToken is invalid.") }
            after = (parts[0], parts[1])
        }
        let start = after
        let rows = try await store.read { db -> [EventRecord] in
            _ = try self.group(db, group, account: account, region: region)
            var q = EventRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == group)
            if let start {
                q = q.filter(Column("timestamp") > start.timestamp || (Column("timestamp") == start.timestamp && Column("id") > start.id))
            }
            if let s = input["startTime"]?.int { q = q.filter(Column("timestamp") >= Int64(s)) }
            if let e = input["endTime"]?.int { q = q.filter(Column("timestamp") <= Int64(e)) }
            if !names.isEmpty { q = q.filter(names.contains(Column("streamName"))) }
            return try q.order(Column("timestamp"), Column("id")).fetchAll(db)
        }
        var matched: [EventRecord] = []
        var more = false
        for r in rows where (prefix == nil || r.streamName.hasPrefix(prefix!)) && pattern.matches(r.message) {
            if matched.count == limit { more = true; break }
            matched.append(r)
        }
        var out: [String: ShapeValue] = [
            "events": .list(matched.map { e in
                ["eventId": .string(String(e.id ?? 0)), "logStreamName": .string(e.streamName), "timestamp": .integer(e.timestamp),
                 "message": .string(e.message), "ingestionTime": .integer(e.ingestion)]
            }),
            "searchedLogStreams": [],
        ]
        if more, let last = matched.last { out["nextToken"] = .string(PageToken.encode("\(last.timestamp)/\(last.id ?? 0)")) }
        return .structure(out)
    }
}
