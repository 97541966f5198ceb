public import KumoCore
public import KumoProtocols
public import KumoStore
import GRDB

/// Amazon CloudWatch: metrics (pushed by clients and published by Kumo's own services) and
/// alarms evaluated on the clock, whose actions other services carry out.
public struct CloudWatchProvider: ServiceProvider {
    public let service = "cloudwatch"
    public let operations: [String: OperationHandler]
    public let evaluator: AlarmEvaluator
    public let publisher: MetricsPublisher
    let cw: CloudWatch

    public init(
        store: Store, clock: KumoClock, metrics: ServiceMetrics, accountId: String, region: String
    ) {
        let cw = CloudWatch(store: store, clock: clock, handlers: ActionHandlers())
        self.cw = cw
        evaluator = AlarmEvaluator(cw: cw)
        publisher = MetricsPublisher(cw: cw, metrics: metrics, accountId: accountId, region: region)
        operations = OperationHandler.table(cw, [
            "PutMetricData": CloudWatch.putMetricData,
            "GetMetricStatistics": CloudWatch.getMetricStatistics,
            "GetMetricData": CloudWatch.getMetricData,
            "ListMetrics": CloudWatch.listMetrics,
            "PutMetricAlarm": CloudWatch.putMetricAlarm,
            "PutCompositeAlarm": CloudWatch.putCompositeAlarm,
            "DescribeAlarms": CloudWatch.describeAlarms,
            "DescribeAlarmsForMetric": CloudWatch.describeAlarmsForMetric,
            "DeleteAlarms": CloudWatch.deleteAlarms,
            "SetAlarmState": CloudWatch.setAlarmState,
            "EnableAlarmActions": CloudWatch.enableAlarmActions,
            "DisableAlarmActions": CloudWatch.disableAlarmActions,
            "DescribeAlarmHistory": CloudWatch.describeAlarmHistory,
        ])
    }

    /// A service whose ARNs may appear in alarm actions (EC2, Auto Scaling).
    public func addActionHandler(_ handler: any AlarmActionHandler) { cw.handlers.add(handler) }

    public func reset() async throws {
        try await cw.store.clear(tables: Self.tables)
    }
}

extension CloudWatchProvider: AlarmRegistry {
    public func putAlarm(accountId: String, region: String, parameters: ShapeValue) async throws -> String {
        try await cw.putAlarm(parameters, account: accountId, region: region)
        return cw.alarmArn(accountId, region, parameters["AlarmName"]?.string ?? "")
    }

    public func deleteAlarms(accountId: String, region: String, names: [String]) async {
        _ = try? await cw.store.write { db in
            try AlarmRecord.filter(Column("accountId") == accountId && Column("region") == region && names.contains(Column("name"))).deleteAll(db)
        }
    }

    public func states(accountId: String, region: String, names: [String]) async -> [String: String] {
        let rows = (try? await cw.store.read { db in
            try AlarmRecord.filter(Column("accountId") == accountId && Column("region") == region && names.contains(Column("name"))).fetchAll(db)
        }) ?? []
        return Dictionary(rows.map { ($0.name, $0.state) }, uniquingKeysWith: { a, _ in a })
    }
}
