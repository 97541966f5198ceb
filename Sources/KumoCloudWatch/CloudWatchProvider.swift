public import KumoCore
public import KumoProtocols
public import KumoStore

/// Amazon CloudWatch: metrics (pushed by clients and published by Kumo's own services) and
/// alarms evaluated on the clock, whose actions other services carry out.
public struct CloudWatchProvider: ServiceProvider {
    public let service = "cloudwatch"
    public let operations: [String: OperationHandler]
    public let evaluator: AlarmEvaluator
    public let publisher: MetricsPublisher
    let cw: CloudWatch

    public init(
        store: Store, clock: KumoClock, metrics: ServiceMetrics, accountId: String, region: String, actions: [any AlarmActionHandler]
    ) {
        let cw = CloudWatch(store: store, clock: clock, actions: actions)
        self.cw = cw
        evaluator = AlarmEvaluator(cw: cw)
        publisher = MetricsPublisher(cw: cw, metrics: metrics, accountId: accountId, region: region)
        operations = OperationHandler.table(cw, [
            "PutMetricData": CloudWatch.putMetricData,
            "GetMetricStatistics": CloudWatch.getMetricStatistics,
            "GetMetricData": CloudWatch.getMetricData,
            "ListMetrics": CloudWatch.listMetrics,
            "PutMetricAlarm": CloudWatch.putMetricAlarm,
            "DescribeAlarms": CloudWatch.describeAlarms,
            "DescribeAlarmsForMetric": CloudWatch.describeAlarmsForMetric,
            "DeleteAlarms": CloudWatch.deleteAlarms,
            "SetAlarmState": CloudWatch.setAlarmState,
            "EnableAlarmActions": CloudWatch.enableAlarmActions,
            "DisableAlarmActions": CloudWatch.disableAlarmActions,
            "DescribeAlarmHistory": CloudWatch.describeAlarmHistory,
        ])
    }

    public func reset() async throws {
        try await cw.store.clear(tables: Self.tables)
    }
}
