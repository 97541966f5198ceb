import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Instance refresh: every instance of the group is replaced by one from the current launch
/// template, one at a time, a new instance entering service (and passing its target group's
/// health checks) before an old one is drained and terminated — so the load balancer keeps
/// serving throughout.
extension AutoScaling {
    static let activeRefresh: Set = ["Pending", "InProgress", "Cancelling"]

    func refreshShape(_ r: RefreshRecord, remaining: Int) -> ShapeValue {
        var out: [String: ShapeValue] = [
            "InstanceRefreshId": .string(r.id), "AutoScalingGroupName": .string(r.groupName), "Status": .string(r.status),
            "StartTime": .timestamp(Date(timeIntervalSince1970: r.started)), "InstancesToUpdate": .integer(Int64(remaining)),
            "PercentageComplete": .integer(Int64(r.toUpdate == 0 ? 100 : 100 * (r.toUpdate - remaining) / r.toUpdate)),
            "Preferences": ShapeValue(storageText: r.preferences), "Strategy": "Rolling",
        ]
        if let reason = r.statusReason { out["StatusReason"] = .string(reason) }
        if let end = r.ended { out["EndTime"] = .timestamp(Date(timeIntervalSince1970: end)) }
        if let d = r.desiredConfiguration { out["DesiredConfiguration"] = ShapeValue(storageText: d) }
        return .structure(out)
    }

    func startInstanceRefresh(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let t = now
        let id = UUID().uuidString.lowercased()
        try await store.write { db in
            var g = try self.group(db, name, account: account, region: region)
            if try RefreshRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name
                && Self.activeRefresh.contains(Column("status"))).fetchCount(db) > 0 {
                throw AWSError(code: "InstanceRefreshInProgress", message: "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
            }
            if let template = input["DesiredConfiguration"]?["LaunchTemplate"] {
                var c = g.settings
                c["LaunchTemplate"] = template
                g.settings = c
                try g.update(db)
            }
            let members = try MemberRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name
                && ["Pending", "InService"].contains(Column("lifecycleState"))).fetchCount(db)
            try RefreshRecord(
                id: id, accountId: account, region: region, groupName: name, status: "InProgress", statusReason: nil, started: t, ended: nil,
                toUpdate: members, preferences: (input["Preferences"] ?? .empty).storageText,
                desiredConfiguration: input["DesiredConfiguration"].map(\.storageText)
            ).insert(db)
        }
        return ["InstanceRefreshId": .string(id)]
    }

    func describeInstanceRefreshes(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let ids = (call.input["InstanceRefreshIds"]?.list ?? []).compactMap(\.string)
        let account = call.context.accountId, region = call.context.region
        let (rows, members) = try await store.read { db in
            (try RefreshRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name)
                .order(Column("started").desc).fetchAll(db),
             try MemberRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name).fetchAll(db))
        }
        let shapes = rows.filter { ids.isEmpty || ids.contains($0.id) }.map { r in
            refreshShape(r, remaining: Self.activeRefresh.contains(r.status) ? members.filter { $0.launched < r.started && $0.lifecycleState != "Terminating" }.count : 0)
        }
        return ["InstanceRefreshes": .list(shapes)]
    }

    func cancelInstanceRefresh(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let t = now
        let id = try await store.write { db -> String in
            guard var r = try RefreshRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name
                && Self.activeRefresh.contains(Column("status"))).fetchOne(db)
            else { throw AWSError(code: "ActiveInstanceRefreshNotFound", message: "No in progress or pending Instance Refresh found for Auto Scaling group \(name)") }
            r.status = "Cancelled"
            r.statusReason = "Cancelled due to user request."
            r.ended = t
            try r.update(db)
            return r.id
        }
        return ["InstanceRefreshId": .string(id)]
    }
}

extension Reconciler {
    /// One step of a running refresh; returns how many extra instances the group may run now
    /// (one while a replacement is coming up).
    func refreshStep(_ g: GroupRecord, members: [MemberRecord], targetGroups: [String]) async -> Int {
        guard var refresh = try? await asg.store.read({ db in
            try RefreshRecord.filter(Column("accountId") == g.accountId && Column("region") == g.region && Column("groupName") == g.name
                && AutoScaling.activeRefresh.contains(Column("status"))).fetchOne(db)
        }) else { return 0 }
        let old = members.filter { $0.launched < refresh.started && ($0.lifecycleState == "InService" || $0.lifecycleState == "Pending") }
        guard !old.isEmpty else {
            refresh.status = "Successful"
            refresh.ended = asg.now
            let done = refresh
            _ = try? await asg.store.write { db in
                try done.update(db)
                try asg.activity(db, g, description: "Instance refresh \(done.id) completed", cause: "At \(AutoScaling.iso(done.ended ?? 0)) the instance refresh finished replacing every instance.")
            }
            return 0
        }
        let preferences = ShapeValue(storageText: refresh.preferences)
        let warmup = Double(preferences["InstanceWarmup"]?.int ?? ShapeValue(storageText: g.config)["DefaultInstanceWarmup"]?.int ?? 0) * asg.clock.timeScale
        let fresh = members.filter { $0.launched >= refresh.started && $0.lifecycleState != "Terminating" }
        var ready = 0
        for m in fresh where m.lifecycleState == "InService" && asg.now - m.launched >= warmup {
            var healthy = true
            for tg in targetGroups where await asg.registrar.health(instanceId: m.instanceId, targetGroupArn: tg) != "healthy" { healthy = false }
            if healthy { ready += 1 }
        }
        let active = members.filter { $0.lifecycleState == "InService" || $0.lifecycleState == "Pending" }.count
        let desired = ShapeValue(storageText: g.config)["DesiredCapacity"]?.int ?? 0
        // A replacement is serving: the oldest remaining old instance drains and goes.
        if active > desired, ready > 0, fresh.allSatisfy({ $0.lifecycleState == "InService" }) {
            if let victim = old.min(by: { $0.launched < $1.launched }) {
                await takeOut(victim, g, cause: "At \(AutoScaling.iso(asg.now)) an instance was taken out of service in response to an instance refresh. At \(AutoScaling.iso(asg.now)) instance \(victim.instanceId) was selected for termination.")
            }
            return 0
        }
        return 1
    }
}
