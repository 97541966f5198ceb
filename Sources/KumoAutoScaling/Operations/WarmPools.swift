import GRDB
import KumoCore
import KumoProtocols
import KumoStore

/// Warm pools: instances launched ahead of need and kept running or stopped beside the group;
/// a scale-out takes them first, so they serve sooner than a cold launch.
extension AutoScaling {
    func putWarmPool(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        var config: [String: ShapeValue] = ["PoolState": input["PoolState"] ?? "Stopped", "MinSize": input["MinSize"] ?? .integer(0)]
        if let max = input["MaxGroupPreparedCapacity"] { config["MaxGroupPreparedCapacity"] = max }
        if let reuse = input["InstanceReusePolicy"] { config["InstanceReusePolicy"] = reuse }
        guard ["Stopped", "Running"].contains(config["PoolState"]?.string ?? "") else {
            throw AWSError.asgValidation("Kumo keeps warm pools Stopped or Running; \(config["PoolState"]?.string ?? "") is not supported.")
        }
        if let max = config["MaxGroupPreparedCapacity"]?.int, max != -1, max < (config["MinSize"]?.int ?? 0) {
            throw AWSError.asgValidation("MaxGroupPreparedCapacity must be greater than or equal to the warm pool's MinSize.")
        }
        let settings = ShapeValue.structure(config).storageText
        try await store.write { db in
            _ = try self.group(db, name, account: account, region: region)
            try WarmPoolRecord(accountId: account, region: region, groupName: name, config: settings).save(db)
        }
        return .structure([:])
    }

    func describeWarmPool(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let (pool, members) = try await store.read { db -> (WarmPoolRecord?, [MemberRecord]) in
            _ = try self.group(db, name, account: account, region: region)
            let pool = try WarmPoolRecord.fetchOne(db, key: ["accountId": account, "region": region, "groupName": name])
            let members = try MemberRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region)
                .fetchAll(db).filter { $0.lifecycleState.hasPrefix("Warmed:") }
            return (pool, members)
        }
        var out: [String: ShapeValue] = [
            "Instances": .list(members.map { m in
                [
                    "InstanceId": .string(m.instanceId), "AvailabilityZone": .string(m.availabilityZone), "LifecycleState": .string(m.lifecycleState),
                    "HealthStatus": .string(m.healthStatus), "InstanceType": .string(m.instanceType), "ProtectedFromScaleIn": .boolean(false),
                    "LaunchTemplate": ShapeValue(storageText: m.launchTemplate),
                ]
            })
        ]
        if let pool {
            var c = ShapeValue(storageText: pool.config).members ?? [:]
            c["Status"] = nil
            out["WarmPoolConfiguration"] = .structure(c)
        }
        return .structure(out)
    }

    func deleteWarmPool(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let warm = try await store.write { db -> [MemberRecord] in
            _ = try self.group(db, name, account: account, region: region)
            guard try WarmPoolRecord.deleteOne(db, key: ["accountId": account, "region": region, "groupName": name]) else {
                throw AWSError.asgValidation("No warm pool found for Auto Scaling group \(name).")
            }
            let warm = try MemberRecord.filter(Column("groupName") == name && Column("accountId") == account && Column("region") == region)
                .fetchAll(db).filter { $0.lifecycleState.hasPrefix("Warmed:") }
            for m in warm { try m.delete(db) }
            return warm
        }
        for m in warm { await launcher.terminate(instanceId: m.instanceId) }
        return .structure([:])
    }

    /// The group's warm pool settings, if it has one.
    func warmPool(_ g: GroupRecord) async -> ShapeValue? {
        (try? await store.read { db in
            try WarmPoolRecord.fetchOne(db, key: ["accountId": g.accountId, "region": g.region, "groupName": g.name])
        })?.map { ShapeValue(storageText: $0.config) }
    }
}
