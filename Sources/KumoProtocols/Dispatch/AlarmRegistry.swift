public import KumoCore

/// Creates and deletes CloudWatch alarms on behalf of another service (target tracking
/// policies own their alarms, as on AWS). CloudWatch provides it.
public protocol AlarmRegistry: Sendable {
    /// Creates or replaces an alarm from PutMetricAlarm's parameters; returns its ARN.
    func putAlarm(accountId: String, region: String, parameters: ShapeValue) async throws -> String
    func deleteAlarms(accountId: String, region: String, names: [String]) async
    /// The state (`OK`, `ALARM`, `INSUFFICIENT_DATA`) of each named alarm that exists.
    func states(accountId: String, region: String, names: [String]) async -> [String: String]
}
