import GRDB
import KumoCore
import KumoProtocols
import KumoStore

/// Target groups joined to and taken from a running group: Attach/Detach/DescribeTrafficSources
/// and the older Attach/Detach/DescribeLoadBalancerTargetGroups. Instances in service are
/// registered with a new target group at once and drained out of a detached one.
extension AutoScaling {
    func attachTrafficSources(_ call: OperationCall) async throws -> ShapeValue {
        let arns = try trafficSourceArns(call.input["TrafficSources"]?.list ?? [])
        try await changeTargetGroups(call, adding: arns)
        return .structure([:])
    }

    func detachTrafficSources(_ call: OperationCall) async throws -> ShapeValue {
        let arns = try trafficSourceArns(call.input["TrafficSources"]?.list ?? [])
        try await changeTargetGroups(call, removing: arns)
        return .structure([:])
    }

    func attachLoadBalancerTargetGroups(_ call: OperationCall) async throws -> ShapeValue {
        try await changeTargetGroups(call, adding: (call.input["TargetGroupARNs"]?.list ?? []).compactMap(\.string))
        return .structure([:])
    }

    func detachLoadBalancerTargetGroups(_ call: OperationCall) async throws -> ShapeValue {
        try await changeTargetGroups(call, removing: (call.input["TargetGroupARNs"]?.list ?? []).compactMap(\.string))
        return .structure([:])
    }

    func describeTrafficSources(_ call: OperationCall) async throws -> ShapeValue {
        let arns = try await targetGroups(call)
        if let type = call.input["TrafficSourceType"]?.string, type != "elbv2" { return ["TrafficSources": []] }
        return [
            "TrafficSources": .list(arns.map { ["TrafficSource": .string($0), "Identifier": .string($0), "Type": "elbv2", "State": "InService"] })
        ]
    }

    func describeLoadBalancerTargetGroups(_ call: OperationCall) async throws -> ShapeValue {
        let arns = try await targetGroups(call)
        return ["LoadBalancerTargetGroups": .list(arns.map { ["LoadBalancerTargetGroupARN": .string($0), "State": "InService"] })]
    }

    /// Only target groups (`elbv2`) are traffic sources Kumo serves.
    func trafficSourceArns(_ sources: [ShapeValue]) throws -> [String] {
        try sources.map { s in
            let type = s["Type"]?.string ?? "elbv2"
            guard type == "elbv2" else { throw AWSError.asgValidation("Traffic source type \(type) is not supported by Kumo; use elbv2 target groups.") }
            return s["Identifier"]?.string ?? ""
        }
    }

    func targetGroups(_ call: OperationCall) async throws -> [String] {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let g = try await store.read { db in try self.group(db, name, account: account, region: region) }
        return (ShapeValue(storageText: g.config)["TargetGroupARNs"]?.list ?? []).compactMap(\.string)
    }

    func changeTargetGroups(_ call: OperationCall, adding: [String] = [], removing: [String] = []) async throws {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        for arn in adding where !(await registrar.exists(targetGroupArn: arn)) {
            throw AWSError.asgValidation("The target group ARN \(arn) is not valid")
        }
        let (before, members) = try await store.write { db -> ([String], [MemberRecord]) in
            var g = try self.group(db, name, account: account, region: region)
            var c = g.settings
            let current = (c["TargetGroupARNs"]?.list ?? []).compactMap(\.string)
            var next = current.filter { !removing.contains($0) }
            for arn in adding where !next.contains(arn) { next.append(arn) }
            c["TargetGroupARNs"] = .list(next.map { .string($0) })
            g.settings = c
            try g.update(db)
            let members = try MemberRecord.filter(
                Column("groupName") == name && Column("accountId") == account && Column("region") == region && Column("lifecycleState") == "InService"
            ).fetchAll(db)
            return (current, members)
        }
        for m in members {
            for arn in adding where !before.contains(arn) { try? await registrar.register(instanceId: m.instanceId, targetGroupArn: arn) }
            for arn in removing where before.contains(arn) { await registrar.deregister(instanceId: m.instanceId, targetGroupArn: arn) }
        }
    }
}
