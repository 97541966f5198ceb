import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension AutoScaling {
    func memberShape(_ m: MemberRecord, group: Bool) -> ShapeValue {
        var out: [String: ShapeValue] = [
            "InstanceId": .string(m.instanceId), "InstanceType": .string(m.instanceType), "AvailabilityZone": .string(m.availabilityZone),
            "LifecycleState": .string(m.lifecycleState), "HealthStatus": .string(m.healthStatus), "ProtectedFromScaleIn": .boolean(m.protectedFromScaleIn),
            "LaunchTemplate": ShapeValue(storageText: m.launchTemplate),
        ]
        if group { out["AutoScalingGroupName"] = .string(m.groupName) }
        return .structure(out)
    }

    func groupShape(_ g: GroupRecord, members: [MemberRecord]) -> ShapeValue {
        var m = g.settings
        m["AutoScalingGroupARN"] = .string(g.arn)
        m["CreatedTime"] = .timestamp(Date(timeIntervalSince1970: g.created))
        m["Instances"] = .list(members.filter { $0.groupName == g.name }.map { memberShape($0, group: false) })
        m["SuspendedProcesses"] = .list((m["SuspendedProcesses"]?.list ?? []).map {
            ["ProcessName": $0, "SuspensionReason": .string("User suspended at \(Self.iso(g.created))")]
        })
        m["EnabledMetrics"] = .list((m["CollectedMetrics"]?.list ?? []).map { ["Metric": $0, "Granularity": "1Minute"] })
        m["CollectedMetrics"] = nil
        m["Tags"] = .list((m["Tags"]?.list ?? []).map { t in
            var tag = t.members ?? [:]
            tag["ResourceId"] = .string(g.name)
            tag["ResourceType"] = "auto-scaling-group"
            if tag["PropagateAtLaunch"] == nil { tag["PropagateAtLaunch"] = false }
            return .structure(tag)
        })
        return .structure(m)
    }

    static let terminationPolicies = [
        "Default", "AllocationStrategy", "OldestLaunchTemplate", "OldestLaunchConfiguration", "ClosestToNextInstanceHour", "NewestInstance",
        "OldestInstance",
    ]

    /// Termination policies must be ones Auto Scaling knows (custom Lambda policies are not run by Kumo).
    static func checkTerminationPolicies(_ input: ShapeValue) throws {
        for p in (input["TerminationPolicies"]?.list ?? []).compactMap(\.string) where !terminationPolicies.contains(p) {
            throw AWSError.asgValidation("Termination policy '\(p)' is not valid. Valid termination policies are \(terminationPolicies.joined(separator: ", ")).")
        }
    }

    func createAutoScalingGroup(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        try Self.checkTerminationPolicies(input)
        let min = input["MinSize"]?.int ?? 0, max = input["MaxSize"]?.int ?? 0
        let desired = input["DesiredCapacity"]?.int ?? min
        try Self.checkBounds(min: min, max: max, desired: desired)
        guard let template = input["LaunchTemplate"] ?? input["MixedInstancesPolicy"]?["LaunchTemplate"]?["LaunchTemplateSpecification"] else {
            throw AWSError.asgValidation("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.")
        }
        let subnets = (input["VPCZoneIdentifier"]?.string ?? "").split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        var zones: [String] = []
        for s in subnets {
            guard let subnet = await network.subnet(id: s, account: account, region: region) else {
                throw AWSError.asgValidation("The subnet ID '\(s)' does not exist")
            }
            zones.append(subnet.availabilityZone)
        }
        if subnets.isEmpty {
            throw AWSError.asgValidation("No default subnet exists; specify VPCZoneIdentifier with the subnets to launch instances in.")
        }
        for arn in (input["TargetGroupARNs"]?.list ?? []).compactMap(\.string) {
            guard await registrar.exists(targetGroupArn: arn) else { throw AWSError.asgValidation("The target group ARN \(arn) is not valid") }
        }
        try await self.template(template, account: account, region: region)
        var config = input.members ?? [:]
        config["DesiredCapacity"] = .integer(Int64(desired))
        config["LaunchTemplate"] = template
        config["MixedInstancesPolicy"] = nil
        config["AvailabilityZones"] = .list(Array(Set(zones)).sorted().map { .string($0) })
        config["HealthCheckType"] = input["HealthCheckType"] ?? "EC2"
        config["HealthCheckGracePeriod"] = input["HealthCheckGracePeriod"] ?? .integer(300)
        config["DefaultCooldown"] = input["DefaultCooldown"] ?? .integer(300)
        config["TargetGroupARNs"] = input["TargetGroupARNs"] ?? []
        config["LoadBalancerNames"] = []
        config["TerminationPolicies"] = input["TerminationPolicies"] ?? ["Default"]
        config["NewInstancesProtectedFromScaleIn"] = input["NewInstancesProtectedFromScaleIn"] ?? false
        config["ServiceLinkedRoleARN"] = .string("arn:aws:iam::\(account):role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
        let record = GroupRecord(
            accountId: account, region: region, name: name,
            arn: "arn:aws:autoscaling:\(region):\(account):autoScalingGroup:\(UUID().uuidString.lowercased()):autoScalingGroupName/\(name)",
            config: ShapeValue.structure(config).storageText, created: now, cooldownUntil: 0)
        try await store.write { db in
            if try GroupRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) != nil {
                throw AWSError(code: "AlreadyExists", message: "AutoScalingGroup by this name already exists - A group with the name \(name) already exists")
            }
            try record.insert(db)
        }
        return .empty
    }

    func describeAutoScalingGroups(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let names = (call.input["AutoScalingGroupNames"]?.list ?? []).compactMap(\.string)
        let (groups, members) = try await store.read { db in
            (try GroupRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("created")).fetchAll(db),
             try MemberRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("launched")).fetchAll(db)
                .filter { !$0.lifecycleState.hasPrefix("Warmed:") })  // warm pool instances are listed by DescribeWarmPool
        }
        var shapes = groups.filter { names.isEmpty || names.contains($0.name) }.map { groupShape($0, members: members) }
        for f in call.input["Filters"]?.list ?? [] {
            let wanted = (f["Values"]?.list ?? []).compactMap(\.string)
            let key = f["Name"]?.string ?? ""
            shapes = shapes.filter { g in
                let tags = (g["Tags"]?.list ?? []).map { ($0["Key"]?.string ?? "", $0["Value"]?.string ?? "") }
                if key.hasPrefix("tag:") { return tags.contains { $0.0 == key.dropFirst(4) && wanted.contains($0.1) } }
                if key == "tag-key" { return tags.contains { wanted.contains($0.0) } }
                if key == "tag-value" { return tags.contains { wanted.contains($0.1) } }
                return true
            }
        }
        return ["AutoScalingGroups": .list(shapes)]
    }

    func updateAutoScalingGroup(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let t = now
        try Self.checkTerminationPolicies(input)
        try await store.write { db in
            var g = try self.group(db, name, account: account, region: region)
            var c = g.settings
            let oldDesired = c["DesiredCapacity"]?.int ?? 0
            for key in ["MinSize", "MaxSize", "DesiredCapacity", "LaunchTemplate", "HealthCheckType", "HealthCheckGracePeriod", "DefaultCooldown",
                        "VPCZoneIdentifier", "TerminationPolicies", "NewInstancesProtectedFromScaleIn", "DefaultInstanceWarmup"] {
                if let v = input[key] { c[key] = v }
            }
            var desired = c["DesiredCapacity"]?.int ?? 0
            let min = c["MinSize"]?.int ?? 0, max = c["MaxSize"]?.int ?? 0
            if input["DesiredCapacity"] == nil { desired = Swift.min(Swift.max(desired, min), max) }
            try Self.checkBounds(min: min, max: max, desired: desired)
            c["DesiredCapacity"] = .integer(Int64(desired))
            g.settings = c
            try g.update(db)
            if desired != oldDesired {
                try self.activity(
                    db, g, description: "Updating the desired capacity of \(name) from \(oldDesired) to \(desired)",
                    cause: "At \(Self.iso(t)) a user request update of AutoScalingGroup constraints to min: \(min), max: \(max), desired: \(desired) changing the desired capacity from \(oldDesired) to \(desired).")
            }
        }
        return .empty
    }

    func setDesiredCapacity(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let desired = call.input["DesiredCapacity"]?.int ?? 0
        let honor = call.input["HonorCooldown"]?.bool ?? false
        let account = call.context.accountId, region = call.context.region
        let t = now
        try await store.write { db in
            var g = try self.group(db, name, account: account, region: region)
            if honor && g.cooldownUntil > t {
                throw AWSError(code: "ScalingActivityInProgress", message: "Scaling activity is in progress and blocks this action")
            }
            var c = g.settings
            let min = c["MinSize"]?.int ?? 0, max = c["MaxSize"]?.int ?? 0
            guard (min...max).contains(desired) else {
                throw AWSError.asgValidation("New SetDesiredCapacity value \(desired) is \(desired < min ? "below min value \(min)" : "above max value \(max)") for the AutoScalingGroup.")
            }
            let old = c["DesiredCapacity"]?.int ?? 0
            c["DesiredCapacity"] = .integer(Int64(desired))
            g.settings = c
            try g.update(db)
            if old != desired {
                try self.activity(
                    db, g, description: "Setting the desired capacity of \(name) from \(old) to \(desired)",
                    cause: "At \(Self.iso(t)) a user request explicitly set group desired capacity changing the desired capacity from \(old) to \(desired).")
            }
        }
        return .empty
    }

    func deleteAutoScalingGroup(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let force = call.input["ForceDelete"]?.bool ?? false
        let account = call.context.accountId, region = call.context.region
        let (members, policies) = try await store.write { db -> ([MemberRecord], [PolicyRecord]) in
            let g = try self.group(db, name, account: account, region: region)
            let members = try MemberRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).fetchAll(db)
            if !members.isEmpty && !force {
                throw AWSError(code: "ResourceInUse", message: "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.")
            }
            let policies = try PolicyRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).fetchAll(db)
            try g.delete(db)
            try MemberRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).deleteAll(db)
            try ScheduledActionRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).deleteAll(db)
            try LifecycleHookRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).deleteAll(db)
            try WarmPoolRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).deleteAll(db)
            try LifecycleActionRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).deleteAll(db)
            try PolicyRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region).deleteAll(db)
            return (members, policies)
        }
        for m in members { await launcher.terminate(instanceId: m.instanceId) }
        let owned = policies.flatMap { (try? JSONValue.parse($0.alarms))?.array?.compactMap(\.string) ?? [] }
        if !owned.isEmpty { await alarms.deleteAlarms(accountId: account, region: region, names: owned) }
        return .empty
    }

    func describeAutoScalingInstances(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let ids = (call.input["InstanceIds"]?.list ?? []).compactMap(\.string)
        let members = try await store.read { db in
            try MemberRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("launched")).fetchAll(db)
        }
        return ["AutoScalingInstances": .list(members.filter { ids.isEmpty || ids.contains($0.instanceId) }.map { memberShape($0, group: true) })]
    }

    func terminateInstanceInAutoScalingGroup(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["InstanceId"]?.string ?? ""
        let decrement = call.input["ShouldDecrementDesiredCapacity"]?.bool ?? false
        let t = now
        let activity = try await store.write { db -> ShapeValue in
            guard var m = try MemberRecord.fetchOne(db, key: id) else {
                throw AWSError.asgValidation("Instance Id not found - No managed instance found for instance ID: \(id)")
            }
            var g = try self.group(db, m.groupName, account: m.accountId, region: m.region)
            var c = g.settings
            let desired = c["DesiredCapacity"]?.int ?? 0
            var cause = "At \(Self.iso(t)) instance \(id) was taken out of service in response to a user request"
            if decrement {
                let min = c["MinSize"]?.int ?? 0
                guard desired - 1 >= min else {
                    throw AWSError.asgValidation("Currently, desiredSize equals minSize (\(min)). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.")
                }
                c["DesiredCapacity"] = .integer(Int64(desired - 1))
                g.settings = c
                try g.update(db)
                cause += ", shrinking the capacity from \(desired) to \(desired - 1)."
            } else {
                cause += "."
            }
            m.lifecycleState = "Terminating"
            try m.update(db)
            try self.activity(db, g, description: "Terminating EC2 instance: \(id)", cause: cause, status: "InProgress")
            return [
                "ActivityId": .string(UUID().uuidString.lowercased()), "AutoScalingGroupName": .string(g.name), "Description": .string("Terminating EC2 instance: \(id)"),
                "Cause": .string(cause), "StartTime": .timestamp(Date(timeIntervalSince1970: t)), "StatusCode": "InProgress", "Progress": 0,
            ]
        }
        return ["Activity": activity]
    }

    func setInstanceHealth(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["InstanceId"]?.string ?? ""
        let status = call.input["HealthStatus"]?.string ?? "Healthy"
        guard status == "Healthy" || status == "Unhealthy" else { throw AWSError.asgValidation("Valid health status values are Healthy and Unhealthy") }
        try await store.write { db in
            guard var m = try MemberRecord.fetchOne(db, key: id) else {
                throw AWSError.asgValidation("Instance Id not found - No managed instance found for instance ID: \(id)")
            }
            m.healthStatus = status
            try m.update(db)
        }
        return .empty
    }

    func describeScalingActivities(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let name = call.input["AutoScalingGroupName"]?.string
        let rows = try await store.read { db in
            try ActivityRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("start").desc).fetchAll(db)
        }
        let items: [ShapeValue] = rows.filter { name == nil || $0.groupName == name }.prefix(call.input["MaxRecords"]?.int ?? 100).map { a in
            var out: [String: ShapeValue] = [
                "ActivityId": .string(a.id), "AutoScalingGroupName": .string(a.groupName), "Description": .string(a.description), "Cause": .string(a.cause),
                "StartTime": .timestamp(Date(timeIntervalSince1970: a.start)), "StatusCode": .string(a.statusCode),
                "Progress": .integer(a.end == nil ? 50 : 100), "Details": "{}",
            ]
            if let end = a.end { out["EndTime"] = .timestamp(Date(timeIntervalSince1970: end)) }
            if let message = a.statusMessage { out["StatusMessage"] = .string(message) }
            return .structure(out)
        }
        return ["Activities": .list(items)]
    }
}

extension AutoScaling {
    static let processes = [
        "Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance", "HealthCheck", "InstanceRefresh",
        "ReplaceUnhealthy", "ScheduledActions",
    ]

    /// The processes a group has suspended (`Launch`, `Terminate`, `HealthCheck`, ...).
    static func suspended(_ config: ShapeValue) -> Set<String> { Set((config["SuspendedProcesses"]?.list ?? []).compactMap(\.string)) }

    func changeProcesses(_ call: OperationCall, suspend: Bool) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let asked = (call.input["ScalingProcesses"]?.list ?? []).compactMap(\.string)
        for p in asked where !Self.processes.contains(p) {
            throw AWSError.asgValidation("Process \(p) is not a valid scaling process; valid processes are \(Self.processes.joined(separator: ", ")).")
        }
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            var g = try self.group(db, name, account: account, region: region)
            var c = g.settings
            var current = Self.suspended(.structure(c))
            let names = asked.isEmpty ? Set(Self.processes) : Set(asked)
            if suspend { current.formUnion(names) } else { current.subtract(names) }
            c["SuspendedProcesses"] = .list(current.sorted().map { .string($0) })
            g.settings = c
            try g.update(db)
        }
        return .empty
    }

    func suspendProcesses(_ call: OperationCall) async throws -> ShapeValue { try await changeProcesses(call, suspend: true) }
    func resumeProcesses(_ call: OperationCall) async throws -> ShapeValue { try await changeProcesses(call, suspend: false) }

    func setInstanceProtection(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let ids = (call.input["InstanceIds"]?.list ?? []).compactMap(\.string)
        let protected = call.input["ProtectedFromScaleIn"]?.bool ?? false
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            _ = try self.group(db, name, account: account, region: region)
            for id in ids {
                guard var m = try MemberRecord.fetchOne(db, key: id), m.groupName == name else {
                    throw AWSError.asgValidation("The instance \(id) is not part of Auto Scaling group \(name).")
                }
                m.protectedFromScaleIn = protected
                try m.update(db)
            }
        }
        return .empty
    }
}

extension AutoScaling {
    /// Running instances join the group (and its target groups); the desired capacity grows with them.
    func attachInstances(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let ids = (call.input["InstanceIds"]?.list ?? []).compactMap(\.string)
        let account = call.context.accountId, region = call.context.region
        var found: [(String, String)] = []
        for id in ids {
            guard let status = await launcher.status(instanceId: id), status.state == "running" else {
                throw AWSError.asgValidation("Instance \(id) is not in correct state (running) to be attached.")
            }
            found.append((id, status.zone))
        }
        let t = now
        let joining = found
        try await store.write { db in
            var g = try self.group(db, name, account: account, region: region)
            var c = g.settings
            let desired = c["DesiredCapacity"]?.int ?? 0, max = c["MaxSize"]?.int ?? 0
            guard desired + joining.count <= max else {
                throw AWSError.asgValidation("AutoScalingGroup \(name) has reached its maximum capacity of \(max); attaching \(joining.count) instance(s) would exceed it.")
            }
            for (id, zone) in joining {
                if try MemberRecord.fetchOne(db, key: id) != nil {
                    throw AWSError.asgValidation("The instance \(id) is already part of an Auto Scaling group.")
                }
                try MemberRecord(
                    instanceId: id, groupName: name, accountId: account, region: region, availabilityZone: zone, lifecycleState: "Pending",
                    healthStatus: "Healthy", instanceType: "", launchTemplate: "{}", launched: t, protectedFromScaleIn: false
                ).insert(db)
            }
            c["DesiredCapacity"] = .integer(Int64(desired + joining.count))
            g.settings = c
            try g.update(db)
            try self.activity(
                db, g, description: "Attaching EC2 instance(s): \(joining.map(\.0).joined(separator: ", "))",
                cause: "At \(Self.iso(t)) an instance was added in response to a user request, increasing the capacity from \(desired) to \(desired + joining.count).")
        }
        return .empty
    }

    /// Instances leave the group (and drain out of its target groups) but keep running.
    func detachInstances(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let ids = (call.input["InstanceIds"]?.list ?? []).compactMap(\.string)
        guard let decrement = call.input["ShouldDecrementDesiredCapacity"]?.bool else {
            throw AWSError.asgValidation("ShouldDecrementDesiredCapacity is required.")
        }
        let account = call.context.accountId, region = call.context.region
        let t = now
        let targetGroups = try await store.write { db -> [String] in
            var g = try self.group(db, name, account: account, region: region)
            var c = g.settings
            for id in ids {
                guard let m = try MemberRecord.fetchOne(db, key: id), m.groupName == name else {
                    throw AWSError.asgValidation("The instance \(id) is not part of Auto Scaling group \(name).")
                }
                try m.delete(db)
            }
            let desired = c["DesiredCapacity"]?.int ?? 0
            if decrement {
                let min = c["MinSize"]?.int ?? 0
                guard desired - ids.count >= min else {
                    throw AWSError.asgValidation("Detaching \(ids.count) instance(s) with ShouldDecrementDesiredCapacity would take the group below its minimum size of \(min).")
                }
                c["DesiredCapacity"] = .integer(Int64(desired - ids.count))
                g.settings = c
                try g.update(db)
            }
            try self.activity(
                db, g, description: "Detaching EC2 instance(s): \(ids.joined(separator: ", "))",
                cause: "At \(Self.iso(t)) instance(s) were detached in response to a user request" + (decrement ? ", shrinking the capacity from \(desired) to \(desired - ids.count)." : "."))
            return (c["TargetGroupARNs"]?.list ?? []).compactMap(\.string)
        }
        for id in ids { for tg in targetGroups { await registrar.deregister(instanceId: id, targetGroupArn: tg) } }
        return .empty
    }
}
