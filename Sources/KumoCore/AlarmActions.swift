/// What an alarm's state change tells the services that its actions name.
public struct AlarmNotice: Sendable {
    public var alarmName: String
    public var alarmArn: String
    public var accountId: String
    public var region: String
    public var state: String
    public var previousState: String
    public var reason: String
    /// The alarm's metric dimensions (an EC2 action reads `InstanceId`).
    public var dimensions: [(name: String, value: String)]
    /// The alarm's threshold and the latest value it evaluated (step and target tracking policies use them).
    public var threshold: Double?
    public var value: Double?

    public init(
        alarmName: String, alarmArn: String, accountId: String, region: String, state: String, previousState: String, reason: String,
        dimensions: [(name: String, value: String)], threshold: Double? = nil, value: Double? = nil
    ) {
        self.threshold = threshold
        self.value = value
        self.alarmName = alarmName
        self.alarmArn = alarmArn
        self.accountId = accountId
        self.region = region
        self.state = state
        self.previousState = previousState
        self.reason = reason
        self.dimensions = dimensions
    }
}

/// A service that carries out alarm actions: EC2's stop/terminate/reboot actions, Auto Scaling
/// policies. CloudWatch asks each in turn; the `Kumo` executable wires them in.
public protocol AlarmActionHandler: Sendable {
    /// Runs `action` if it is one of this service's ARNs and returns the history summary; nil otherwise.
    func run(action: String, for alarm: AlarmNotice) async -> String?
}
