import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Lifecycle hooks: a launching instance waits in Pending:Wait, a terminating one in
/// Terminating:Wait, until CompleteLifecycleAction (or the heartbeat timeout, which applies
/// the hook's DefaultResult). Hooks whose NotificationTargetARN is an SQS queue get Auto
/// Scaling's messages there.
extension AutoScaling {
    static let launching = "autoscaling:EC2_INSTANCE_LAUNCHING"
    static let terminating = "autoscaling:EC2_INSTANCE_TERMINATING"

    func hookShape(_ h: LifecycleHookRecord) -> ShapeValue {
        var out = ShapeValue(storageText: h.config).members ?? [:]
        out["LifecycleHookName"] = .string(h.name)
        out["AutoScalingGroupName"] = .string(h.groupName)
        out["GlobalTimeout"] = .integer(Int64((out["HeartbeatTimeout"]?.int ?? 3600) * 100))
        return .structure(out)
    }

    func putLifecycleHook(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let groupName = input["AutoScalingGroupName"]?.string ?? ""
        let name = input["LifecycleHookName"]?.string ?? ""
        let existing = try await store.read { db in
            try LifecycleHookRecord.fetchOne(db, key: ["accountId": account, "region": region, "groupName": groupName, "name": name])
        }
        var config = existing.flatMap { ShapeValue(storageText: $0.config).members } ?? [:]
        for key in ["LifecycleTransition", "HeartbeatTimeout", "DefaultResult", "NotificationTargetARN", "RoleARN", "NotificationMetadata"] {
            if let v = input[key] { config[key] = v }
        }
        guard let transition = config["LifecycleTransition"]?.string, [Self.launching, Self.terminating].contains(transition) else {
            throw AWSError.asgValidation("Invalid Lifecycle Transition: \(config["LifecycleTransition"]?.string ?? "(none)")")
        }
        let timeout = config["HeartbeatTimeout"]?.int ?? 3600
        guard (30...7200).contains(timeout) else { throw AWSError.asgValidation("Heartbeat timeout must be between 30 and 7200 seconds.") }
        config["HeartbeatTimeout"] = .integer(Int64(timeout))
        config["DefaultResult"] = config["DefaultResult"] ?? "ABANDON"
        guard ["CONTINUE", "ABANDON"].contains(config["DefaultResult"]?.string ?? "") else {
            throw AWSError.asgValidation("Invalid default result: \(config["DefaultResult"]?.string ?? ""). Valid values are CONTINUE and ABANDON.")
        }
        let settings = ShapeValue.structure(config).storageText
        let group = try await store.write { db -> GroupRecord in
            let g = try self.group(db, groupName, account: account, region: region)
            try LifecycleHookRecord(accountId: account, region: region, groupName: groupName, name: name, config: settings).save(db)
            return g
        }
        if let target = config["NotificationTargetARN"]?.string {
            await notify(target, [
                ("AccountId", .string(account)), ("RequestId", .string(call.context.requestId)), ("AutoScalingGroupARN", .string(group.arn)),
                ("AutoScalingGroupName", .string(groupName)), ("Service", .string("AWS Auto Scaling")), ("Event", .string("autoscaling:TEST_NOTIFICATION")),
                ("Time", .string(Self.iso(now))),
            ])
        }
        return .structure([:])
    }

    func describeLifecycleHooks(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let groupName = call.input["AutoScalingGroupName"]?.string ?? ""
        let names = Set((call.input["LifecycleHookNames"]?.list ?? []).compactMap(\.string))
        let hooks = try await store.read { db in
            _ = try self.group(db, groupName, account: account, region: region)
            return try LifecycleHookRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == groupName)
                .order(Column("name")).fetchAll(db)
        }
        return ["LifecycleHooks": .list(hooks.filter { names.isEmpty || names.contains($0.name) }.map(hookShape))]
    }

    func describeLifecycleHookTypes(_ call: OperationCall) async throws -> ShapeValue {
        ["LifecycleHookTypes": [.string(Self.launching), .string(Self.terminating)]]
    }

    func deleteLifecycleHook(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let groupName = call.input["AutoScalingGroupName"]?.string ?? ""
        let name = call.input["LifecycleHookName"]?.string ?? ""
        try await store.write { db in
            _ = try self.group(db, groupName, account: account, region: region)
            guard try LifecycleHookRecord.deleteOne(db, key: ["accountId": account, "region": region, "groupName": groupName, "name": name]) else {
                throw AWSError.asgValidation("No Lifecycle Hook found with name \(name) for group \(groupName)")
            }
        }
        return .structure([:])
    }

    /// The wait an instance is in for a hook, by token or by instance id.
    func pendingAction(_ db: Database, _ call: OperationCall) throws -> LifecycleActionRecord {
        let hook = call.input["LifecycleHookName"]?.string ?? ""
        let group = call.input["AutoScalingGroupName"]?.string ?? ""
        var found: LifecycleActionRecord?
        if let token = call.input["LifecycleActionToken"]?.string {
            found = try LifecycleActionRecord.fetchOne(db, key: token)
        } else if let instance = call.input["InstanceId"]?.string {
            found = try LifecycleActionRecord.filter(Column("instanceId") == instance && Column("hookName") == hook && Column("result") == nil).fetchOne(db)
        }
        guard let action = found, action.accountId == call.context.accountId, action.groupName == group, action.hookName == hook, action.result == nil
        else { throw AWSError.asgValidation("No active Lifecycle Action found with instance ID \(call.input["InstanceId"]?.string ?? "(none)")") }
        return action
    }

    func completeLifecycleAction(_ call: OperationCall) async throws -> ShapeValue {
        let result = call.input["LifecycleActionResult"]?.string ?? ""
        guard ["CONTINUE", "ABANDON"].contains(result) else {
            throw AWSError.asgValidation("Invalid lifecycle action result: \(result). Valid values are CONTINUE and ABANDON.")
        }
        try await store.write { db in
            var action = try self.pendingAction(db, call)
            action.result = result
            try action.update(db)
        }
        return .structure([:])
    }

    func recordLifecycleActionHeartbeat(_ call: OperationCall) async throws -> ShapeValue {
        let t = now
        let scale = clock.timeScale
        try await store.write { db in
            var action = try self.pendingAction(db, call)
            action.deadline = t + action.timeout * scale
            try action.update(db)
        }
        return .structure([:])
    }

    /// Puts an instance into the wait of every hook of a transition; false when the group has none.
    func startLifecycleActions(_ m: MemberRecord, _ g: GroupRecord, transition: String) async -> Bool {
        let t = now
        let scale = clock.timeScale
        let hooks = (try? await store.read { db in
            try LifecycleHookRecord.filter(Column("accountId") == g.accountId && Column("region") == g.region && Column("groupName") == g.name)
                .fetchAll(db)
        })?.filter { ShapeValue(storageText: $0.config)["LifecycleTransition"]?.string == transition } ?? []
        guard !hooks.isEmpty else { return false }
        var actions: [LifecycleActionRecord] = []
        for h in hooks {
            let c = ShapeValue(storageText: h.config)
            let timeout = Double(c["HeartbeatTimeout"]?.int ?? 3600)
            actions.append(LifecycleActionRecord(
                token: UUID().uuidString.lowercased(), instanceId: m.instanceId, accountId: g.accountId, region: g.region, groupName: g.name,
                hookName: h.name, transition: transition, timeout: timeout, deadline: t + timeout * scale,
                defaultResult: c["DefaultResult"]?.string ?? "ABANDON", result: nil))
        }
        let pending = actions
        _ = try? await store.write { db in for a in pending { try a.insert(db) } }
        for (h, a) in zip(hooks, actions) {
            let c = ShapeValue(storageText: h.config)
            guard let target = c["NotificationTargetARN"]?.string else { continue }
            var message: [(String, JSONValue)] = [
                ("Origin", .string(transition == Self.launching ? "EC2" : "AutoScalingGroup")),
                ("Destination", .string(transition == Self.launching ? "AutoScalingGroup" : "EC2")),
                ("AccountId", .string(g.accountId)), ("RequestId", .string(UUID().uuidString.lowercased())),
                ("LifecycleTransition", .string(transition)), ("AutoScalingGroupName", .string(g.name)), ("Service", .string("AWS Auto Scaling")),
                ("Time", .string(Self.iso(t))), ("EC2InstanceId", .string(m.instanceId)), ("LifecycleActionToken", .string(a.token)),
                ("LifecycleHookName", .string(h.name)),
            ]
            if let metadata = c["NotificationMetadata"]?.string { message.append(("NotificationMetadata", .string(metadata))) }
            await notify(target, message)
        }
        return true
    }

    /// How an instance's waits ended: nil while one is still open; ABANDON if any hook (or its
    /// timeout default) said so; CONTINUE otherwise. Finished waits are removed.
    func lifecycleOutcome(_ m: MemberRecord, transition: String) async -> String? {
        let t = now
        let actions = (try? await store.read { db in
            try LifecycleActionRecord.filter(Column("instanceId") == m.instanceId && Column("transition") == transition).fetchAll(db)
        }) ?? []
        var results: [String] = []
        for a in actions {
            if let r = a.result {
                results.append(r)
            } else if t >= a.deadline {
                results.append(a.defaultResult)
            } else {
                return nil
            }
        }
        _ = try? await store.write { db in
            try LifecycleActionRecord.filter(Column("instanceId") == m.instanceId && Column("transition") == transition).deleteAll(db)
        }
        return results.contains("ABANDON") ? "ABANDON" : "CONTINUE"
    }

    /// Sends a message to an SQS queue target; other targets (SNS) are not delivered by Kumo yet.
    func notify(_ target: String, _ members: [(String, JSONValue)]) async {
        guard target.hasPrefix("arn:aws:sqs:"), let queues else { return }
        _ = try? await queues.deliver(to: target, body: JSONValue.object(members).serialized())
    }
}
