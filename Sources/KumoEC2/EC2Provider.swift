public import KumoCore
public import KumoProtocols
public import KumoStore
public import Logging
import GRDB
import Synchronization

/// Amazon EC2: each region's default network, security groups, tags, and instances that
/// are real processes (`supervisor`, a Service the `Kumo` executable runs).
public struct EC2Provider: ServiceProvider {
    public let service = "ec2"
    public let operations: [String: OperationHandler]
    public let supervisor: InstanceSupervisor
    /// How instance types' limits apply: its kind (`cgroup-v2`, `cgroup-v1`, `none`) and a sentence for the start-up log.
    public var instanceLimits: (kind: String, summary: String) { (supervisor.limits.kind, supervisor.limits.summary) }
    /// The instance metadata service, served by the edge under `/_kumo/imds/`.
    public let metadataRoute: PathRoute
    let ec2: EC2

    /// `credentials` gives instances their instance profile's role credentials (STS).
    public init(
        store: Store, clock: KumoClock, logger: Logger, metrics: ServiceMetrics? = nil, logs: (any LogSink)? = nil,
        credentials: (any RoleCredentialIssuer)? = nil
    ) {
        let supervisor = InstanceSupervisor(store: store, clock: clock, logger: logger, logs: logs)
        let ec2 = EC2(store: store, clock: clock, supervisor: supervisor)
        self.supervisor = supervisor
        self.ec2 = ec2
        metadataRoute = MetadataService(store: store, clock: clock, credentials: credentials).route
        metrics?.addGauges { supervisor.cpuUtilization() }
        operations = OperationHandler.table(ec2, [
            "DescribeVpcs": EC2.describeVpcs,
            "DescribeSubnets": EC2.describeSubnets,
            "DescribeSecurityGroups": EC2.describeSecurityGroups,
            "DescribeAvailabilityZones": EC2.describeAvailabilityZones,
            "DescribeRegions": EC2.describeRegions,
            "CreateSecurityGroup": EC2.createSecurityGroup,
            "DeleteSecurityGroup": EC2.deleteSecurityGroup,
            "AuthorizeSecurityGroupIngress": EC2.authorizeSecurityGroupIngress,
            "AuthorizeSecurityGroupEgress": EC2.authorizeSecurityGroupEgress,
            "RevokeSecurityGroupIngress": EC2.revokeSecurityGroupIngress,
            "RevokeSecurityGroupEgress": EC2.revokeSecurityGroupEgress,
            "CreateTags": EC2.createTags,
            "DeleteTags": EC2.deleteTags,
            "RunInstances": EC2.runInstances,
            "DescribeInstances": EC2.describeInstances,
            "DescribeInstanceStatus": EC2.describeInstanceStatus,
            "TerminateInstances": EC2.terminateInstances,
            "StopInstances": EC2.stopInstances,
            "StartInstances": EC2.startInstances,
            "RebootInstances": EC2.rebootInstances,
            "GetConsoleOutput": EC2.getConsoleOutput,
            "CreateLaunchTemplate": EC2.createLaunchTemplate,
            "CreateLaunchTemplateVersion": EC2.createLaunchTemplateVersion,
            "ModifyLaunchTemplate": EC2.modifyLaunchTemplate,
            "DescribeLaunchTemplates": EC2.describeLaunchTemplates,
            "DescribeLaunchTemplateVersions": EC2.describeLaunchTemplateVersions,
            "DeleteLaunchTemplate": EC2.deleteLaunchTemplate,
            "CreateVpc": EC2.createVpc,
            "DeleteVpc": EC2.deleteVpc,
            "ModifyVpcAttribute": EC2.modifyVpcAttribute,
            "DescribeVpcAttribute": EC2.describeVpcAttribute,
            "CreateSubnet": EC2.createSubnet,
            "DeleteSubnet": EC2.deleteSubnet,
            "ModifySubnetAttribute": EC2.modifySubnetAttribute,
            "CreateInternetGateway": EC2.createInternetGateway,
            "AttachInternetGateway": EC2.attachInternetGateway,
            "DetachInternetGateway": EC2.detachInternetGateway,
            "DeleteInternetGateway": EC2.deleteInternetGateway,
            "DescribeInternetGateways": EC2.describeInternetGateways,
            "CreateRouteTable": EC2.createRouteTable,
            "DeleteRouteTable": EC2.deleteRouteTable,
            "CreateRoute": EC2.createRoute,
            "ReplaceRoute": EC2.replaceRoute,
            "DeleteRoute": EC2.deleteRoute,
            "AssociateRouteTable": EC2.associateRouteTable,
            "DisassociateRouteTable": EC2.disassociateRouteTable,
            "DescribeRouteTables": EC2.describeRouteTables,
            "AllocateAddress": EC2.allocateAddress,
            "ReleaseAddress": EC2.releaseAddress,
            "DescribeAddresses": EC2.describeAddresses,
            "CreateNatGateway": EC2.createNatGateway,
            "DeleteNatGateway": EC2.deleteNatGateway,
            "DescribeNatGateways": EC2.describeNatGateways,
            "CreateKeyPair": EC2.createKeyPair,
            "ImportKeyPair": EC2.importKeyPair,
            "DescribeKeyPairs": EC2.describeKeyPairs,
            "DeleteKeyPair": EC2.deleteKeyPair,
            "DescribeTags": EC2.describeTags,
            "ModifyInstanceAttribute": EC2.modifyInstanceAttribute,
            "DescribeInstanceAttribute": EC2.describeInstanceAttribute,
            "RegisterImage": EC2.registerImage,
            "DeregisterImage": EC2.deregisterImage,
            "DescribeImages": EC2.describeImages,
        ])
    }

    /// The edge's URL, given to instances as `AWS_ENDPOINT_URL` so their SDKs call Kumo.
    public func setEndpoint(_ url: String) { supervisor.endpoint.withLock { $0 = url } }

    public func reset() async throws {
        let ids = try await ec2.store.read { db in try String.fetchAll(db, sql: "SELECT id FROM ec2_instances WHERE state != 'terminated'") }
        for id in ids { await supervisor.halt(id, then: "terminated") }
        try await ec2.store.clear(tables: Self.tables)
    }
}

extension EC2Provider: InstanceDirectory {
    public func instance(id: String) async -> (state: String, bindAddress: String, availabilityZone: String)? {
        guard let r = try? await ec2.store.read({ db in try InstanceRecord.fetchOne(db, key: id) }) else { return nil }
        return (r.state, r.bindAddress, r.availabilityZone)
    }

    public func subnet(id: String, account: String, region: String) async -> (vpcId: String, availabilityZone: String)? {
        let row = try? await ec2.store.write { db -> ResourceRecord? in
            try ec2.ensureDefaults(db, account: account, region: region)
            return try ResourceRecord.fetchOne(db, key: id)
        }
        guard let row, row.type == "subnet", row.accountId == account, row.region == region else { return nil }
        return (row.vpcId ?? "", ShapeValue(storageText: row.body)["AvailabilityZone"]?.string ?? "")
    }

    public func vpcExists(id: String, account: String, region: String) async -> Bool {
        let row = try? await ec2.store.write { db -> ResourceRecord? in
            try ec2.ensureDefaults(db, account: account, region: region)
            return try ResourceRecord.fetchOne(db, key: id)
        }
        guard let row else { return false }
        return row.type == "vpc" && row.accountId == account && row.region == region
    }

    public func vpc(bindAddress: String) async -> String? {
        try? await ec2.store.read { db in
            try String.fetchOne(db, sql: "SELECT vpcId FROM ec2_instances WHERE bindAddress = ? AND state = 'running'", arguments: [bindAddress])
        }
    }

    public func ingressAllows(groups: [String], source: String, port: Int) async -> Bool {
        let found = try? await ec2.store.read { db -> ([ShapeValue], [String]) in
            let rules = try ResourceRecord.filter(groups.contains(Column("id")) && Column("type") == "security-group").fetchAll(db)
                .flatMap { ShapeValue(storageText: $0.body)["IpPermissions"]?.list ?? [] }
            let sourceGroups = try String.fetchOne(
                db, sql: "SELECT securityGroups FROM ec2_instances WHERE (bindAddress = ? OR privateIp = ?) AND state = 'running'",
                arguments: [source, source])
            return (rules, (sourceGroups.flatMap { try? JSONValue.parse($0) })?.array?.compactMap(\.string) ?? [])
        }
        guard let (rules, sourceGroups) = found else { return false }
        return Self.admits(rules, port: port, addresses: [source], groups: sourceGroups)
    }

    public func admitsBalancer(instanceId: String, groups: [String], subnets: [String], port: Int) async -> Bool {
        let admitted = try? await ec2.store.read { db -> Bool in
            // An instance Kumo does not know, or one without groups, is not filtered.
            guard let instance = try InstanceRecord.fetchOne(db, key: instanceId) else { return true }
            let own = (try? JSONValue.parse(instance.securityGroups))?.array?.compactMap(\.string) ?? []
            guard !own.isEmpty else { return true }
            let rules = try ResourceRecord.filter(own.contains(Column("id")) && Column("type") == "security-group").fetchAll(db)
                .flatMap { ShapeValue(storageText: $0.body)["IpPermissions"]?.list ?? [] }
            // A balancer without groups is in its VPC's default group, as on AWS.
            var from = groups
            if from.isEmpty {
                from = try ResourceRecord.filter(Column("type") == "security-group" && Column("vpcId") == instance.vpcId).fetchAll(db)
                    .filter { ShapeValue(storageText: $0.body)["GroupName"]?.string == "default" }.map(\.id)
            }
            // Its nodes' addresses are in its subnets: the first address of each stands for them.
            let addresses = try ResourceRecord.filter(subnets.contains(Column("id")) && Column("type") == "subnet").fetchAll(db)
                .compactMap { ShapeValue(storageText: $0.body)["CidrBlock"]?.string?.split(separator: "/").first.map(String.init) }
            return Self.admits(rules, port: port, addresses: addresses, groups: from)
        }
        return admitted ?? true
    }

    /// Whether any ingress rule lets TCP on `port` in from one of the addresses or groups.
    static func admits(_ rules: [ShapeValue], port: Int, addresses: [String], groups: [String]) -> Bool {
        rules.contains { rule in
            let proto = rule["IpProtocol"]?.string ?? ""
            guard proto == "-1" || proto == "all" || proto == "tcp" || proto == "6" else { return false }
            if proto == "tcp" || proto == "6" {
                guard (rule["FromPort"]?.int ?? 0) <= port, port <= (rule["ToPort"]?.int ?? 65535) else { return false }
            }
            let ranges = (rule["IpRanges"]?.list ?? []).compactMap { $0["CidrIp"]?.string }
                + (rule["Ipv6Ranges"]?.list ?? []).compactMap { $0["CidrIpv6"]?.string }
            if ranges.contains(where: { range in addresses.contains { CIDR(range)?.contains($0) ?? false } }) { return true }
            return (rule["UserIdGroupPairs"]?.list ?? []).contains { pair in groups.contains(pair["GroupId"]?.string ?? "") }
        }
    }

    public func bindAddress(privateIp: String) async -> String? {
        try? await ec2.store.read { db in
            try String.fetchOne(db, sql: "SELECT bindAddress FROM ec2_instances WHERE privateIp = ? AND state = 'running'", arguments: [privateIp])
        }
    }
}

extension EC2Provider: AlarmActionHandler {
    /// EC2 alarm actions: `arn:aws:automate:<region>:ec2:stop|terminate|reboot` on the alarm's InstanceId.
    public func run(action: String, for alarm: AlarmNotice) async -> String? {
        let parts = action.split(separator: ":")
        guard parts.count == 6, parts[2] == "automate", parts[4] == "ec2" else { return nil }
        guard let id = alarm.dimensions.first(where: { $0.name == "InstanceId" })?.value,
            let instance = try? await ec2.store.read({ db in try InstanceRecord.fetchOne(db, key: id) })
        else { return "Failed to execute action \(action): the alarm has no InstanceId dimension of an existing instance" }
        switch parts[5] {
        case "stop" where instance.state == "running":
            try? await supervisor.setState(id, "stopping", reason: "Client.UserInitiatedShutdown: alarm \(alarm.alarmName)")
            await supervisor.halt(id, then: "stopped")
        case "terminate" where instance.state != "terminated":
            try? await supervisor.setState(id, "shutting-down", reason: nil)
            await supervisor.halt(id, then: "terminated")
        case "reboot" where instance.state == "running":
            await supervisor.halt(id, then: "pending")
            await supervisor.launch(instance)
        default:
            return "Failed to execute action \(action): instance \(id) is \(instance.state)"
        }
        return "Successfully executed action \(action)"
    }
}

extension EC2Provider: InstanceLauncher {
    public func launch(
        accountId: String, region: String, templateId: String?, templateName: String?, version: String?, subnetId: String,
        tags: [(key: String, value: String)]
    ) async throws -> LaunchedInstance {
        // Resolved first, so the instance records the version number it really came from.
        let resolved = try await checkTemplate(accountId: accountId, region: region, templateId: templateId, templateName: templateName, version: version)
        let input: ShapeValue = [
            "MinCount": 1, "MaxCount": 1, "SubnetId": .string(subnetId),
            "LaunchTemplate": ["LaunchTemplateId": .string(resolved.id), "Version": .string(String(resolved.number))],
            "TagSpecifications": [["ResourceType": "instance", "Tags": .list(tags.map { ["Key": .string($0.key), "Value": .string($0.value)] })]],
        ]
        let call = OperationCall(
            context: RequestContext(accountId: accountId, region: region, service: "ec2", operation: "RunInstances"), input: input,
            request: ProtocolRequest(method: "POST", path: "/", query: [], headers: [], body: []))
        let out = try await ec2.runInstances(call)
        let instance = out["Instances"]?.list?.first ?? .empty
        return LaunchedInstance(
            instanceId: instance["InstanceId"]?.string ?? "", availabilityZone: instance["Placement"]?["AvailabilityZone"]?.string ?? "",
            instanceType: instance["InstanceType"]?.string ?? "", imageId: instance["ImageId"]?.string ?? "", template: resolved)
    }

    public func checkTemplate(accountId: String, region: String, templateId: String?, templateName: String?, version: String?) async throws
        -> TemplateVersion
    {
        do {
            return try await ec2.store.read { db in
                let t = try ec2.template(db, id: templateId, name: templateName, account: accountId, region: region)
                let v = try ec2.version(db, template: t, version)
                return TemplateVersion(
                    id: t.id, name: ShapeValue(storageText: t.body)["LaunchTemplateName"]?.string ?? "",
                    number: ShapeValue(storageText: v.body)["VersionNumber"]?.int ?? 1)
            }
        } catch let e as AWSError {
            throw AWSError(code: "ValidationError", message: "You must use a valid fully-formed launch template. " + e.message)
        }
    }

    public func stop(instanceId: String) async {
        guard let r = try? await ec2.store.read({ db in try InstanceRecord.fetchOne(db, key: instanceId) }), r.state == "running" || r.state == "pending"
        else { return }
        try? await supervisor.setState(instanceId, "stopping", reason: "Client.UserInitiatedShutdown: User initiated shutdown")
        await supervisor.halt(instanceId, then: "stopped")
    }

    public func start(instanceId: String) async {
        guard var r = try? await ec2.store.read({ db in try InstanceRecord.fetchOne(db, key: instanceId) }), r.state == "stopped" else { return }
        try? await supervisor.setState(instanceId, "pending", reason: nil)
        r.state = "pending"
        await supervisor.launch(r)
    }

    public func terminate(instanceId: String) async {
        guard let r = try? await ec2.store.read({ db in try InstanceRecord.fetchOne(db, key: instanceId) }), r.state != "terminated" else { return }
        try? await supervisor.setState(instanceId, "shutting-down", reason: nil)
        await supervisor.halt(instanceId, then: "terminated")
    }

    public func status(instanceId: String) async -> (state: String, healthy: Bool, zone: String)? {
        guard let r = try? await ec2.store.read({ db in try InstanceRecord.fetchOne(db, key: instanceId) }) else { return nil }
        return (r.state, r.state != "running" || supervisor.isAlive(instanceId), r.availabilityZone)
    }
}
