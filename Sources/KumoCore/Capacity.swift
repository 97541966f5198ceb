/// A launch template version as it was resolved: `$Latest` and `$Default` become a number.
public struct TemplateVersion: Sendable, Equatable {
    public var id: String
    public var name: String
    public var number: Int
    public init(id: String, name: String, number: Int) {
        self.id = id
        self.name = name
        self.number = number
    }
}

/// An instance the launcher started, and the template version it was started from.
public struct LaunchedInstance: Sendable {
    public var instanceId: String
    public var availabilityZone: String
    public var instanceType: String
    public var imageId: String
    public var template: TemplateVersion
    public init(instanceId: String, availabilityZone: String, instanceType: String, imageId: String, template: TemplateVersion) {
        self.instanceId = instanceId
        self.availabilityZone = availabilityZone
        self.instanceType = instanceType
        self.imageId = imageId
        self.template = template
    }
}

/// Launches and ends instances for Auto Scaling (EC2 provides it).
public protocol InstanceLauncher: Sendable {
    /// Runs one instance from a launch template (`version` is a number, `$Latest` or `$Default`) in a subnet, with tags.
    func launch(
        accountId: String, region: String, templateId: String?, templateName: String?, version: String?, subnetId: String,
        tags: [(key: String, value: String)]
    ) async throws -> LaunchedInstance
    /// The template version a specification names now; throws AWS's ValidationError when the
    /// launch template (or version) does not exist.
    @discardableResult
    func checkTemplate(accountId: String, region: String, templateId: String?, templateName: String?, version: String?) async throws -> TemplateVersion
    func terminate(instanceId: String) async
    /// Stops a running instance (its processes end; a warm pool keeps it stopped).
    func stop(instanceId: String) async
    /// Starts a stopped instance again.
    func start(instanceId: String) async
    /// The instance's state, whether its processes still run (its status check) and its zone; nil when it is gone.
    func status(instanceId: String) async -> (state: String, healthy: Bool, zone: String)?
}

/// Registers Auto Scaling instances with load balancer target groups (ELB provides it).
public protocol TargetRegistrar: Sendable {
    func register(instanceId: String, targetGroupArn: String) async throws
    /// Starts draining the instance out of the group; returns the deregistration delay in AWS seconds.
    @discardableResult
    func deregister(instanceId: String, targetGroupArn: String) async -> Double
    func exists(targetGroupArn: String) async -> Bool
    /// The target's health state in the group (`healthy`, `unhealthy`, `initial`...), nil when not registered.
    func health(instanceId: String, targetGroupArn: String) async -> String?
}
