/// Where services send log lines that AWS would put in CloudWatch Logs (an instance's console
/// output). CloudWatch Logs provides it; the log group and stream are made when missing.
public protocol LogSink: Sendable {
    func append(accountId: String, region: String, group: String, stream: String, events: [(timestamp: Int64, message: String)]) async
}
