import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import ServiceLifecycle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// StartLiveTail: an event stream that starts with `sessionStart`, then sends a `sessionUpdate`
/// every second with the events ingested since (at most 500 an update; beyond that the update
/// says `sampled`), filtered by stream names or prefixes and the filter pattern, until the
/// client goes away, Kumo shuts down, or the session reaches 3 hours (scaled), which ends it with
/// SessionTimeoutException.
extension Logs {
    static let liveTailBatch = 500

    func startLiveTail(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let identifiers = (input["logGroupIdentifiers"]?.list ?? []).compactMap(\.string)
        let names = (input["logStreamNames"]?.list ?? []).compactMap(\.string)
        let prefixes = (input["logStreamNamePrefixes"]?.list ?? []).compactMap(\.string)
        guard (1...10).contains(identifiers.count) else { throw Self.invalid("logGroupIdentifiers must name between 1 and 10 log groups.") }
        if !names.isEmpty && !prefixes.isEmpty {
            throw Self.invalid("logStreamNames and logStreamNamePrefixes are mutually exclusive.")
        }
        if !(names.isEmpty && prefixes.isEmpty) && identifiers.count > 1 {
            throw Self.invalid("logStreamNames and logStreamNamePrefixes can be used with only one log group.")
        }
        let account = call.context.accountId, region = call.context.region
        // Each identifier (a name or an ARN) and the group it names.
        let groups = identifiers.map { id in (id, Self.groupName(identifier: id)) }
        let start = try await store.read { db -> Int64 in
            for (_, name) in groups { _ = try self.group(db, name, account: account, region: region) }
            return try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM logs_events") ?? 0
        }
        let pattern = FilterPattern(input["logEventFilterPattern"]?.string)
        let sessionId = UUID().uuidString.lowercased()
        let requestId = call.context.requestId
        let lifetime = clock.duration(awsSeconds: 3 * 3600)
        let store = self.store
        var startEvent: [String: ShapeValue] = [
            "sessionId": .string(sessionId), "requestId": .string(requestId), "logGroupIdentifiers": .list(identifiers.map { .string($0) }),
        ]
        if !names.isEmpty { startEvent["logStreamNames"] = .list(names.map { .string($0) }) }
        if !prefixes.isEmpty { startEvent["logStreamNamePrefixes"] = .list(prefixes.map { .string($0) }) }
        if let p = input["logEventFilterPattern"] { startEvent["logEventFilterPattern"] = p }
        let opening = ShapeValue.structure(startEvent)
        return ["responseStream": .events(EventSource { emit in
            try await emit(["sessionStart": opening])
            var last = start
            let ends = ContinuousClock.now + lifetime
            // A session also ends when Kumo shuts down, so it does not hold the shutdown up.
            while ContinuousClock.now < ends, !Task.isShuttingDownGracefully {
                try await Task.sleep(for: .seconds(1))
                let after = last
                let rows = try await store.read { db in
                    try EventRecord.filter(Column("accountId") == account && Column("region") == region
                        && groups.map(\.1).contains(Column("groupName")) && Column("id") > after)
                        .order(Column("id")).limit(10_000).fetchAll(db)
                }
                last = rows.last?.id ?? last
                let matching = rows.filter { r in
                    (names.isEmpty || names.contains(r.streamName)) && (prefixes.isEmpty || prefixes.contains { r.streamName.hasPrefix($0) })
                        && pattern.matches(r.message)
                }
                let results: [ShapeValue] = matching.prefix(Self.liveTailBatch).map { r in
                    [
                        "logGroupIdentifier": .string(groups.first { $0.1 == r.groupName }?.0 ?? r.groupName), "logStreamName": .string(r.streamName),
                        "message": .string(r.message), "timestamp": .integer(r.timestamp), "ingestionTime": .integer(r.ingestion),
                    ]
                }
                try await emit(["sessionUpdate": [
                    "sessionMetadata": ["sampled": .boolean(matching.count > Self.liveTailBatch)], "sessionResults": .list(results),
                ]])
            }
            guard !Task.isShuttingDownGracefully else { return }
            try await emit(["SessionTimeoutException": ["message": "The Live Tail session has reached its maximum duration of 3 hours."]])
        })]
    }
}
