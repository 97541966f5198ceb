public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB

/// Amazon CloudWatch Logs: log groups, streams and events; also where instances' console
/// output goes (`LogSink`).
public struct LogsProvider: ServiceProvider {
    public let service = "logs"
    public let operations: [String: OperationHandler]
    let logs: Logs

    public init(store: Store, clock: KumoClock) {
        let logs = Logs(store: store, clock: clock)
        self.logs = logs
        operations = OperationHandler.table(logs, [
            "CreateLogGroup": Logs.createLogGroup,
            "DeleteLogGroup": Logs.deleteLogGroup,
            "DescribeLogGroups": Logs.describeLogGroups,
            "PutRetentionPolicy": Logs.putRetentionPolicy,
            "DeleteRetentionPolicy": Logs.deleteRetentionPolicy,
            "CreateLogStream": Logs.createLogStream,
            "DeleteLogStream": Logs.deleteLogStream,
            "DescribeLogStreams": Logs.describeLogStreams,
            "PutLogEvents": Logs.putLogEvents,
            "GetLogEvents": Logs.getLogEvents,
            "FilterLogEvents": Logs.filterLogEvents,
            "StartLiveTail": Logs.startLiveTail,
        ])
    }

    public func reset() async throws { try await logs.store.clear(tables: Self.tables) }
}

extension LogsProvider: LogSink {
    public func append(accountId: String, region: String, group: String, stream: String, events: [(timestamp: Int64, message: String)]) async {
        let now = logs.nowMillis
        _ = try? await logs.store.write { db in
            if try GroupRecord.fetchOne(db, key: ["accountId": accountId, "region": region, "name": group]) == nil {
                try GroupRecord(accountId: accountId, region: region, name: group, created: now, retentionDays: nil).insert(db)
            }
            var s = try StreamRecord.fetchOne(db, key: ["accountId": accountId, "region": region, "groupName": group, "name": stream])
            if s == nil {
                s = StreamRecord(accountId: accountId, region: region, groupName: group, name: stream, created: now, storedBytes: 0)
                try s!.insert(db)
            }
            try logs.insert(db, s!, events, ingestion: now)
        }
    }
}
