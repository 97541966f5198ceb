/// Where an EC2 instance can be reached on this machine. The load balancer resolves its
/// targets through this (it cannot import EC2); the `Kumo` executable wires EC2 in.
public protocol InstanceDirectory: Sendable {
    /// The instance's state and the loopback address its processes bind, by instance id.
    func instance(id: String) async -> (state: String, bindAddress: String, availabilityZone: String)?
    /// The loopback address behind an instance's private IPv4 address (for `ip` targets).
    func bindAddress(privateIp: String) async -> String?
    /// A subnet's VPC and availability zone (load balancers are placed in subnets).
    func subnet(id: String, account: String, region: String) async -> (vpcId: String, availabilityZone: String)?
    /// Whether a VPC exists in the account and region.
    func vpcExists(id: String, account: String, region: String) async -> Bool
    /// The VPC of the running instance whose processes bind this loopback address (the address its
    /// DNS queries come from), for private hosted zones.
    func vpc(bindAddress: String) async -> String?
    /// Whether any of the security groups lets TCP traffic from `source` (an address) in on `port`:
    /// by an IPv4/IPv6 range, or by naming a group of the instance whose processes bind `source`.
    func ingressAllows(groups: [String], source: String, port: Int) async -> Bool
    /// Whether an instance's security groups let a load balancer in on `port`: a rule naming one of
    /// the balancer's groups (the VPC's default group when it has none), or an address range that
    /// holds one of its subnets (where its nodes' addresses are).
    func admitsBalancer(instanceId: String, groups: [String], subnets: [String], port: Int) async -> Bool
}
