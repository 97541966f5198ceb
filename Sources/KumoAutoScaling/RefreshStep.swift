import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a running instance refresh asks of one reconciler pass.
struct RefreshPlan {
    /// How many instances the group may run over its desired capacity now (new ones launched
    /// before old ones go).
    var surge = 0
    /// The launch template new instances come from: the desired configuration's while the refresh
    /// rolls forward, the group's own while it rolls back.
    var template: ShapeValue?
    /// While a refresh runs the group does not scale in for a capacity difference.
    var active = false
}

extension Reconciler {
    /// One step of the group's running refresh: checks for the end, failure or a checkpoint, then
    /// takes out as many old instances as the minimum healthy percentage allows once the
    /// replacements launched so far are warmed up and healthy.
    func refreshStep(_ g: GroupRecord, members: [MemberRecord], targetGroups: [String]) async -> RefreshPlan {
        guard let found = try? await asg.store.read({ db in try asg.activeRefresh(db, g) }) else { return RefreshPlan() }
        var r = found
        let plan = await step(&r, g, members: members, targetGroups: targetGroups)
        // Progress is saved unless the refresh changed status meanwhile (a user cancelled it, or this step ended it).
        if r != found {
            let progressed = r
            _ = try? await asg.store.write { db in
                guard try RefreshRecord.fetchOne(db, key: progressed.id)?.status == found.status else { return }
                try progressed.update(db)
            }
        }
        return plan
    }

    func step(_ r: inout RefreshRecord, _ g: GroupRecord, members: [MemberRecord], targetGroups: [String]) async -> RefreshPlan {
        let c = ShapeValue(storageText: g.config)
        let prefs = ShapeValue(storageText: r.preferences)
        let rollingBack = r.status == "RollbackInProgress"
        let groupSpec = c["LaunchTemplate"] ?? .empty
        let spec = rollingBack ? groupSpec : (ShapeValue(storageText: r.desiredConfiguration ?? "{}")["LaunchTemplate"] ?? groupSpec)
        var plan = RefreshPlan(surge: 0, template: spec, active: true)
        let now = asg.now, scale = asg.clock.timeScale

        guard let target = await asg.resolve(spec, g) else {
            await end(&r, g, status: rollingBack ? "RollbackFailed" : "Failed", reason: "The launch template of the instance refresh does not exist any more.")
            return RefreshPlan()
        }
        let protection = prefs["ScaleInProtectedInstances"]?.string ?? "Wait"
        let alive = members.filter { ["Pending", "Pending:Wait", "InService"].contains($0.lifecycleState) }
        let old = alive.filter { m in
            (r.replaceIds.contains(m.instanceId) || !AutoScaling.matches(m, target)) && !(protection == "Ignore" && m.protectedFromScaleIn)
        }
        let oldIds = Set(old.map(\.instanceId))
        let warmup = Double(prefs["InstanceWarmup"]?.int ?? c["DefaultInstanceWarmup"]?.int ?? c["HealthCheckGracePeriod"]?.int ?? 300) * scale
        var ready = 0, readyNew = 0
        var warming: [MemberRecord] = []
        // Instances launched since the refresh (or its rollback) began must warm up and pass their
        // health checks; the others count while they are in service and healthy.
        let began = r.rollbackStarted ?? r.started
        for m in alive {
            let settled = oldIds.contains(m.instanceId) || m.launched < began
            if await isReady(m, settled: settled, warmup: warmup, targetGroups: targetGroups) {
                ready += 1
                if !settled { readyNew += 1 }
            } else if !settled {
                warming.append(m)
            }
        }
        r.remaining = old.count
        r.percentage = progress(r, old: old.count, updated: readyNew)

        let desired = c["DesiredCapacity"]?.int ?? 0
        if let reason = await failure(r, g, prefs: prefs, rollingBack: rollingBack) {
            if rollingBack {
                await end(&r, g, status: "RollbackFailed", reason: reason)
            } else if prefs["AutoRollback"]?.bool == true, AutoScaling.rollbackBlocker(desiredConfiguration: r.desiredConfiguration, group: c) == nil {
                let back = await asg.resolve(groupSpec, g)
                let current = r
                if let rolled = try? await asg.store.write({ db -> RefreshRecord in
                    var rolled = current
                    try asg.beginRollback(db, &rolled, g, to: back, reason: reason, at: now)
                    return rolled
                }) { r = rolled }
                plan.template = groupSpec
            } else {
                await end(&r, g, status: "Failed", reason: reason)
                return RefreshPlan()
            }
            return plan
        }
        // Alarms are watched above while the refresh waits at a checkpoint or bakes.
        if let until = r.pausedUntil {
            guard now >= until else { return plan }
            r.pausedUntil = nil
            r.statusReason = nil
        }
        if old.isEmpty && warming.isEmpty && ready >= desired {
            await finish(&r, g, rollingBack: rollingBack, bake: Double(prefs["BakeTime"]?.int ?? 0) * scale)
            // This pass still launches from the refresh's template: the group's settings were read before it took them.
            return r.status == "Baking" ? plan : RefreshPlan(template: spec)
        }

        // Old instances that may go: protected ones wait for their protection to be removed.
        let candidates = old.filter { !(protection == "Wait" && $0.protectedFromScaleIn) }.sorted { ($0.launched, $0.instanceId) < ($1.launched, $1.instanceId) }
        if candidates.isEmpty, !old.isEmpty {
            let since = r.waitingSince ?? now
            r.waitingSince = since
            r.statusReason = "Waiting for scale-in protection to be removed from the remaining instances, for example \(old[0].instanceId)."
            if now - since > 3600 * scale {
                await end(&r, g, status: "Failed", reason: "The remaining instances are protected from scale in and ScaleInProtectedInstances is Wait.")
                return RefreshPlan()
            }
            return plan
        }
        r.waitingSince = nil
        let minimum = prefs["MinHealthyPercentage"]?.int ?? 90, maximum = prefs["MaxHealthyPercentage"]?.int ?? 100
        let minHealthy = Int((Double(desired * minimum) / 100).rounded(.up))
        let room = ready - minHealthy
        // Launch before terminate when the maximum healthy percentage leaves room, or when no old
        // instance could go without dropping below the minimum.
        plan.surge = min(max(desired * maximum / 100 - desired, room < 1 ? 1 : 0), candidates.count)
        if let first = warming.first {
            r.statusReason = "Waiting for instances to warm up and pass their health checks before continuing. For example: \(first.instanceId) is warming up."
            return plan
        }
        var batch = min(max(room, 0), candidates.count)
        if !rollingBack, let cap = checkpointCap(&r, prefs: prefs, old: old.count) {
            guard cap > 0 else {
                plan.surge = 0
                return plan
            }
            batch = min(batch, cap)
            plan.surge = min(plan.surge, cap)
        }
        r.statusReason = nil
        let why = rollingBack ? "the rollback of an instance refresh" : "an instance refresh"
        for victim in candidates.prefix(batch) {
            await takeOut(
                victim, g,
                cause: "At \(AutoScaling.iso(now)) an instance was taken out of service in response to \(why). At \(AutoScaling.iso(now)) instance \(victim.instanceId) was selected for termination.")
        }
        return plan
    }

    /// A settled instance (one to replace, or one there before the refresh) counts while it is in
    /// service and healthy; a new one once it is also past its warmup and healthy in every target group.
    func isReady(_ m: MemberRecord, settled: Bool, warmup: Double, targetGroups: [String]) async -> Bool {
        guard m.lifecycleState == "InService", m.healthStatus == "Healthy" else { return false }
        if settled { return true }
        guard asg.now - m.launched >= warmup else { return false }
        for tg in targetGroups where await asg.registrar.health(instanceId: m.instanceId, targetGroupArn: tg) != "healthy" { return false }
        return true
    }

    /// PercentageComplete: replacements that are in service, warmed up and healthy (an instance
    /// counts as updated then, even before the one it replaces has gone); during a rollback it goes
    /// back down towards zero as the refresh's instances are replaced.
    func progress(_ r: RefreshRecord, old: Int, updated: Int) -> Int {
        guard r.toUpdate > 0 else { return r.rollbackStarted == nil ? 100 : 0 }
        if r.rollbackStarted != nil { return min(r.rollbackPercentage ?? 0, 100 * old / r.toUpdate) }
        return old == 0 ? 100 : min(100 * updated / r.toUpdate, 100 * (r.toUpdate - 1) / r.toUpdate)
    }

    /// How many more instances may be replaced before the next checkpoint (nil: no checkpoints
    /// left); 0 while the refresh waits at one. Reaching a checkpoint starts its delay.
    func checkpointCap(_ r: inout RefreshRecord, prefs: ShapeValue, old: Int) -> Int? {
        let checkpoints = (prefs["CheckpointPercentages"]?.list ?? []).compactMap(\.int)
        guard r.checkpoint < checkpoints.count else { return nil }
        let goal = checkpoints[r.checkpoint]
        let needed = Int((Double(r.toUpdate * goal) / 100).rounded(.up))
        let done = r.toUpdate - old
        guard done >= needed else { return needed - done }
        r.checkpoint += 1
        guard goal < 100 else { return nil }
        let delay = prefs["CheckpointDelay"]?.int ?? 3600
        r.pausedUntil = asg.now + Double(delay) * asg.clock.timeScale
        r.statusReason = "Checkpoint \(r.checkpoint) of \(checkpoints.count) reached at \(goal)% complete: the instance refresh waits \(delay) seconds before it continues."
        return 0
    }

    /// Why the refresh fails now, if it does: one of its alarms is in ALARM, or too many
    /// replacement instances failed.
    func failure(_ r: RefreshRecord, _ g: GroupRecord, prefs: ShapeValue, rollingBack: Bool) async -> String? {
        if r.failures >= AutoScaling.refreshFailureLimit {
            return "\(r.failures) instances launched by the \(rollingBack ? "rollback" : "instance refresh") failed to launch or failed their health checks. See the scaling activities for details."
        }
        let names = (prefs["AlarmSpecification"]?["Alarms"]?.list ?? []).compactMap(\.string)
        guard !rollingBack, !names.isEmpty else { return nil }
        let states = await asg.alarms.states(accountId: g.accountId, region: g.region, names: names)
        let firing = names.filter { states[$0] == "ALARM" }
        return firing.isEmpty ? nil : "The CloudWatch alarm \(firing.joined(separator: ", ")) went into the ALARM state."
    }

    /// Every instance is replaced: a refresh bakes (if asked) then succeeds and the group takes
    /// its desired configuration; a rollback succeeds with the group unchanged.
    func finish(_ r: inout RefreshRecord, _ g: GroupRecord, rollingBack: Bool, bake: Double) async {
        let now = asg.now, original = r.status
        if !rollingBack, bake > 0, r.status != "Baking" {
            r.status = "Baking"
            r.pausedUntil = now + bake
            r.statusReason = "Every instance is replaced; baking before the instance refresh completes."
            return
        }
        r.status = rollingBack ? "RollbackSuccessful" : "Successful"
        r.statusReason = rollingBack ? "The rollback completed: the group's instances use its configuration from before the instance refresh." : nil
        r.ended = now
        r.remaining = 0
        r.percentage = rollingBack ? 0 : 100
        let done = r
        _ = try? await asg.store.write { db in
            guard try RefreshRecord.fetchOne(db, key: done.id)?.status == original else { return }
            try done.update(db)
            if !rollingBack, let desired = done.desiredConfiguration.map(ShapeValue.init(storageText:)), let template = desired["LaunchTemplate"],
                var latest = try GroupRecord.fetchOne(db, key: ["accountId": g.accountId, "region": g.region, "name": g.name])
            {
                var settings = latest.settings
                settings["LaunchTemplate"] = template
                latest.settings = settings
                try latest.update(db)
            }
            try asg.activity(
                db, g, description: rollingBack ? "Rollback of instance refresh \(done.id) completed" : "Instance refresh \(done.id) completed",
                cause: "At \(AutoScaling.iso(now)) the \(rollingBack ? "rollback" : "instance refresh") finished replacing every instance.")
        }
    }

    /// Ends the refresh as Failed or RollbackFailed with a reason (the instances stay as they are).
    func end(_ r: inout RefreshRecord, _ g: GroupRecord, status: String, reason: String) async {
        let original = r.status
        r.status = status
        r.statusReason = reason
        r.ended = asg.now
        let done = r
        _ = try? await asg.store.write { db in
            guard try RefreshRecord.fetchOne(db, key: done.id)?.status == original else { return }
            try done.update(db)
            try asg.activity(db, g, description: "Instance refresh \(done.id): \(status)", cause: "At \(AutoScaling.iso(done.ended ?? 0)) \(reason)", status: "Failed", message: reason)
        }
    }
}
