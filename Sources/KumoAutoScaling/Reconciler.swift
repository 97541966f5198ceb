import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import Synchronization
public import ServiceLifecycle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Keeps every group at its desired capacity with real instances: launches in the zone with
/// the fewest, registers new instances with the group's target groups once running, replaces
/// unhealthy ones (EC2 status, or ELB health after the grace period), and scales in by
/// draining and terminating the instances the termination policy picks.
public struct Reconciler: Service {
    let asg: AutoScaling
    /// Instances draining out of their target groups, and when they may be terminated.
    let draining = DrainBoard()
    /// Groups whose launches fail, or whose new instances fail at once, launch again only after a growing pause.
    let backoff = LaunchBackoff()

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(250))
                let groups = (try? await asg.store.read { db in try GroupRecord.fetchAll(db) }) ?? []
                for g in groups { await reconcile(g) }
            }
        }
    }

    func reconcile(_ group: GroupRecord) async {
        var latest = group
        if !AutoScaling.suspended(ShapeValue(storageText: group.config)).contains("ScheduledActions") {
            await asg.runScheduledActions(group)
            let (account, region, name) = (group.accountId, group.region, group.name)
            if let fresh = try? await asg.store.read({ db in try GroupRecord.fetchOne(db, key: ["accountId": account, "region": region, "name": name]) }) {
                latest = fresh
            }
        }
        let g = latest
        let c = ShapeValue(storageText: g.config)
        let targetGroups = (c["TargetGroupARNs"]?.list ?? []).compactMap(\.string)
        let grace = Double(c["HealthCheckGracePeriod"]?.int ?? 300) * asg.clock.timeScale
        let elbHealth = c["HealthCheckType"]?.string == "ELB"
        let suspended = AutoScaling.suspended(c)
        var members = (try? await asg.store.read { db in
            try MemberRecord.filter(Column("accountId") == g.accountId && Column("region") == g.region && Column("groupName") == g.name).fetchAll(db)
        }) ?? []
        let now = asg.now

        for var m in members {
            let status = await asg.launcher.status(instanceId: m.instanceId)
            switch m.lifecycleState {
            case "Pending":
                if status?.state == "running" {
                    // Launch hooks hold the instance in Pending:Wait until they complete.
                    if await asg.startLifecycleActions(m, g, transition: AutoScaling.launching) {
                        m.lifecycleState = "Pending:Wait"
                    } else {
                        for tg in targetGroups { try? await asg.registrar.register(instanceId: m.instanceId, targetGroupArn: tg) }
                        m.lifecycleState = "InService"
                    }
                    try? await save(m)
                } else if status == nil || status?.state == "terminated" || status?.state == "stopped" {
                    m.healthStatus = "Unhealthy"
                    try? await save(m)
                }
            case "Pending:Wait":
                switch await asg.lifecycleOutcome(m, transition: AutoScaling.launching) {
                case "CONTINUE":
                    for tg in targetGroups { try? await asg.registrar.register(instanceId: m.instanceId, targetGroupArn: tg) }
                    m.lifecycleState = "InService"
                    try? await save(m)
                case "ABANDON":
                    await takeOut(m, g, cause: "At \(AutoScaling.iso(now)) an instance was taken out of service because a lifecycle hook abandoned its launch.")
                    m.lifecycleState = "Terminating"
                default: break
                }
            case "InService":
                guard !suspended.contains("HealthCheck") || m.healthStatus == "Unhealthy", !suspended.contains("ReplaceUnhealthy") else { break }
                var reason: String?
                if status == nil || ["stopped", "stopping", "terminated", "shutting-down"].contains(status?.state ?? "") {
                    reason = "an EC2 health check indicating it has been terminated or stopped"
                } else if status?.healthy == false, now - m.launched > grace {
                    reason = "an EC2 health check indicating it has failed (its processes have exited)"
                } else if elbHealth, now - m.launched > grace {
                    for tg in targetGroups where await asg.registrar.health(instanceId: m.instanceId, targetGroupArn: tg) == "unhealthy" {
                        reason = "an ELB system health check failure"
                    }
                }
                if m.healthStatus == "Unhealthy" && reason == nil { reason = "a user request marking it unhealthy" }
                if let reason {
                    if !reason.hasPrefix("a user request") {
                        await asg.noteReplacementFailure(g, launched: m.launched)
                        // An instance that fails soon after its launch (a broken user data script) slows the next launches down.
                        if now - m.launched < LaunchBackoff.young * asg.clock.timeScale + grace {
                            backoff.failed(g.arn, at: now, scale: asg.clock.timeScale)
                        }
                    }
                    m.healthStatus = "Unhealthy"
                    await takeOut(m, g, cause: "At \(AutoScaling.iso(now)) an instance was taken out of service in response to \(reason).")
                    m.lifecycleState = "Terminating"
                }
            case "Warmed:Pending":
                if status?.state == "running" {
                    // A stopped pool keeps its instances initialised but stopped; a running pool keeps them running.
                    if (await asg.warmPool(g))?["PoolState"]?.string == "Running" {
                        m.lifecycleState = "Warmed:Running"
                    } else {
                        await asg.launcher.stop(instanceId: m.instanceId)
                        m.lifecycleState = "Warmed:Stopped"
                    }
                    try? await save(m)
                } else if status == nil || status?.state == "terminated" {
                    let gone = m
                    _ = try? await asg.store.write { db in try gone.delete(db) }
                }
            case "Warmed:Running", "Warmed:Stopped":
                if status == nil || status?.state == "terminated" || status?.state == "shutting-down" {
                    let gone = m
                    _ = try? await asg.store.write { db in try gone.delete(db) }
                }
            case "Terminating", "Terminating:Wait":
                await finishTermination(m, g, targetGroups: targetGroups)
            default: break
            }
            if let i = members.firstIndex(where: { $0.instanceId == m.instanceId }) { members[i] = m }
        }

        let active = members.filter { ["Pending", "Pending:Wait", "InService"].contains($0.lifecycleState) }
        // During an instance refresh the group may run over its desired capacity while replacements come up (`RefreshPlan.surge`).
        let refresh = await refreshStep(g, members: members, targetGroups: targetGroups)
        let desired = (c["DesiredCapacity"]?.int ?? 0) + refresh.surge
        var warm = members.filter { $0.lifecycleState == "Warmed:Running" || $0.lifecycleState == "Warmed:Stopped" }
        backoff.settle(g.arn, members: members, at: now, scale: asg.clock.timeScale, grace: grace)
        if active.count < desired, !suspended.contains("Launch"), !backoff.waiting(g.arn, at: now) {
            // Warm instances first: they enter service without a cold launch.
            var need = desired - active.count
            while need > 0, let m = warm.first {
                warm.removeFirst()
                if m.lifecycleState == "Warmed:Stopped" { await asg.launcher.start(instanceId: m.instanceId) }
                var joining = m
                joining.lifecycleState = "Pending"
                joining.launched = now
                let member = joining
                let from = active.count + (desired - active.count - need)
                _ = try? await asg.store.write { db in
                    try member.update(db)
                    try asg.activity(
                        db, g, description: "Launching a new EC2 instance from warm pool: \(member.instanceId)",
                        cause: "At \(AutoScaling.iso(now)) an instance was started from the warm pool in response to a difference between desired and actual capacity, increasing the capacity from \(from) to \(from + 1).")
                }
                need -= 1
            }
            if need > 0 { await launch(need, g, c, active: active, template: refresh.template) }
        } else if active.count > desired, !refresh.active, !suspended.contains("Terminate") {
            let policies = (c["TerminationPolicies"]?.list ?? []).compactMap(\.string)
            let current = await asg.resolve(c["LaunchTemplate"] ?? .empty, g)
            for m in victims(active, count: active.count - desired, policies: policies.isEmpty ? ["Default"] : policies, current: current) {
                await takeOut(
                    m, g,
                    cause: "At \(AutoScaling.iso(now)) an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from \(active.count) to \(desired). At \(AutoScaling.iso(now)) instance \(m.instanceId) was selected for termination.")
            }
        }
        if !suspended.contains("Launch") { await maintainWarmPool(g, c) }
    }

    /// Keeps the warm pool at its prepared capacity: MaxGroupPreparedCapacity (or the group's
    /// maximum) less the desired capacity, and at least the pool's MinSize.
    func maintainWarmPool(_ g: GroupRecord, _ c: ShapeValue) async {
        guard let pool = await asg.warmPool(g) else { return }
        let members = (try? await asg.store.read { db in
            try MemberRecord.filter(Column("accountId") == g.accountId && Column("region") == g.region && Column("groupName") == g.name).fetchAll(db)
        }) ?? []
        let desired = c["DesiredCapacity"]?.int ?? 0
        let prepared = pool["MaxGroupPreparedCapacity"]?.int.flatMap { $0 == -1 ? nil : $0 } ?? (c["MaxSize"]?.int ?? 0)
        let target = max(pool["MinSize"]?.int ?? 0, prepared - desired)
        let warm = members.filter { $0.lifecycleState.hasPrefix("Warmed:") }
        if warm.count < target {
            await launch(target - warm.count, g, c, active: members.filter { !$0.lifecycleState.hasPrefix("Warmed:") }, warm: true)
        } else if warm.count > target {
            for m in warm.prefix(warm.count - target) {
                await asg.launcher.terminate(instanceId: m.instanceId)
                _ = try? await asg.store.write { db in try m.delete(db) }
            }
        }
    }

    func save(_ m: MemberRecord) async throws { try await asg.store.write { db in try m.update(db) } }

    /// Deregisters (the target drains) and marks the instance Terminating; the next pass terminates it.
    func takeOut(_ m: MemberRecord, _ g: GroupRecord, cause: String) async {
        var m = m
        m.lifecycleState = "Terminating"
        let member = m
        _ = try? await asg.store.write { db in
            try member.update(db)
            try asg.activity(db, g, description: "Terminating EC2 instance: \(member.instanceId)", cause: cause)
        }
    }

    /// Deregisters the instance (its in-flight requests finish while it drains), then, once the
    /// deregistration delay has passed, terminates it.
    func finishTermination(_ m: MemberRecord, _ g: GroupRecord, targetGroups: [String]) async {
        let now = asg.now
        if let until = draining.until(m.instanceId) {
            guard now >= until else { return }
        } else if !targetGroups.isEmpty {
            var delay = 0.0
            for tg in targetGroups { delay = max(delay, await asg.registrar.deregister(instanceId: m.instanceId, targetGroupArn: tg)) }
            draining.start(m.instanceId, until: now + delay * asg.clock.timeScale)
            if delay > 0 { return }
        }
        // Termination hooks hold the drained instance in Terminating:Wait until they complete.
        if m.lifecycleState == "Terminating", await asg.startLifecycleActions(m, g, transition: AutoScaling.terminating) {
            var waiting = m
            waiting.lifecycleState = "Terminating:Wait"
            try? await save(waiting)
            return
        }
        if m.lifecycleState == "Terminating:Wait", await asg.lifecycleOutcome(m, transition: AutoScaling.terminating) == nil { return }
        draining.finish(m.instanceId)
        await asg.launcher.terminate(instanceId: m.instanceId)
        _ = try? await asg.store.write { db in try m.delete(db) }
    }

    /// Which instances a scale-in terminates: never protected ones; first the zone with the
    /// most instances (zones stay balanced), then within it the group's termination policies in
    /// order — OldestInstance, NewestInstance, OldestLaunchTemplate (a template other than the
    /// group's, then the lowest version), ClosestToNextInstanceHour — and Default (oldest launch
    /// template, then closest to the next instance hour); the oldest instance breaks ties.
    func victims(_ active: [MemberRecord], count: Int, policies: [String] = ["Default"], current: TemplateVersion? = nil) -> [MemberRecord] {
        let now = asg.now
        func compare(_ a: MemberRecord, _ b: MemberRecord, _ policy: String) -> Bool? {
            func version(_ m: MemberRecord) -> Int { Int(ShapeValue(storageText: m.launchTemplate)["Version"]?.string ?? "") ?? Int.max }
            func hourLeft(_ m: MemberRecord) -> Double { 3600 - (now - m.launched).truncatingRemainder(dividingBy: 3600) }
            switch policy {
            case "OldestInstance": return a.launched == b.launched ? nil : a.launched < b.launched
            case "NewestInstance": return a.launched == b.launched ? nil : a.launched > b.launched
            case "OldestLaunchTemplate", "OldestLaunchConfiguration", "AllocationStrategy":
                let (oa, ob) = (!AutoScaling.matches(a, current), !AutoScaling.matches(b, current))
                if oa != ob { return oa }
                return version(a) == version(b) ? nil : version(a) < version(b)
            case "ClosestToNextInstanceHour": return hourLeft(a) == hourLeft(b) ? nil : hourLeft(a) < hourLeft(b)
            case "Default": return compare(a, b, "OldestLaunchTemplate") ?? compare(a, b, "ClosestToNextInstanceHour")
            default: return nil
            }
        }
        func first(_ a: MemberRecord, _ b: MemberRecord) -> Bool {
            for p in policies { if let decided = compare(a, b, p) { return decided } }
            return (a.launched, a.instanceId) < (b.launched, b.instanceId)
        }
        var pool = active.filter { !$0.protectedFromScaleIn }
        var out: [MemberRecord] = []
        while out.count < count, !pool.isEmpty {
            let byZone = Dictionary(grouping: pool, by: \.availabilityZone)
            let zone = byZone.max { a, b in a.value.count == b.value.count ? a.key > b.key : a.value.count < b.value.count }?.key ?? ""
            let pick = pool.filter { $0.availabilityZone == zone }.sorted(by: first)[0]
            out.append(pick)
            pool.removeAll { $0.instanceId == pick.instanceId }
        }
        return out
    }

    func launch(_ count: Int, _ g: GroupRecord, _ c: ShapeValue, active: [MemberRecord], warm: Bool = false, template spec: ShapeValue? = nil) async {
        let subnets = (c["VPCZoneIdentifier"]?.string ?? "").split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        guard !subnets.isEmpty else { return }
        var zoneOf: [String: String] = [:]
        for s in subnets { zoneOf[s] = await asg.network.subnet(id: s, account: g.accountId, region: g.region)?.availabilityZone ?? "" }
        var perZone = Dictionary(grouping: active, by: \.availabilityZone).mapValues(\.count)
        let template = spec ?? c["LaunchTemplate"] ?? .empty
        var tags: [(key: String, value: String)] = [("aws:autoscaling:groupName", g.name)]
        for t in c["Tags"]?.list ?? [] where t["PropagateAtLaunch"]?.bool ?? false {
            tags.append((t["Key"]?.string ?? "", t["Value"]?.string ?? ""))
        }
        let before = active.count
        for i in 0..<count {
            // Balance across zones: the subnet whose zone has the fewest instances.
            let subnet = subnets.min { (perZone[zoneOf[$0] ?? ""] ?? 0, $0) < (perZone[zoneOf[$1] ?? ""] ?? 0, $1) } ?? subnets[0]
            do {
                let launched = try await asg.launcher.launch(
                    accountId: g.accountId, region: g.region, templateId: template["LaunchTemplateId"]?.string,
                    templateName: template["LaunchTemplateName"]?.string, version: template["Version"]?.string, subnetId: subnet, tags: tags)
                perZone[launched.availabilityZone, default: 0] += 1
                let member = MemberRecord(
                    instanceId: launched.instanceId, groupName: g.name, accountId: g.accountId, region: g.region,
                    availabilityZone: launched.availabilityZone, lifecycleState: warm ? "Warmed:Pending" : "Pending", healthStatus: "Healthy",
                    instanceType: launched.instanceType,
                    launchTemplate: AutoScaling.templateShape(launched.template).storageText, launched: asg.now,
                    protectedFromScaleIn: c["NewInstancesProtectedFromScaleIn"]?.bool ?? false)
                let now = asg.now
                _ = try? await asg.store.write { db in
                    try member.insert(db)
                    if warm {
                        try asg.activity(
                            db, g, description: "Launching a new EC2 instance into warm pool: \(launched.instanceId)",
                            cause: "At \(AutoScaling.iso(now)) an instance was launched into the warm pool to keep its prepared capacity.")
                    } else {
                        try asg.activity(
                            db, g, description: "Launching a new EC2 instance: \(launched.instanceId)",
                            cause: "At \(AutoScaling.iso(now)) an instance was started in response to a difference between desired and actual capacity, increasing the capacity from \(before + i) to \(before + count).")
                    }
                }
            } catch {
                let message = (error as? AWSError)?.message ?? "\(error)"
                await asg.noteReplacementFailure(g, launched: nil)
                _ = try? await asg.store.write { db in
                    try asg.activity(db, g, description: "Launching a new EC2 instance. Status Reason: \(message)", cause: "At \(AutoScaling.iso(asg.now)) an instance was started in response to a difference between desired and actual capacity.", status: "Failed", message: message)
                }
                // Back off instead of retrying in a tight loop.
                backoff.failed(g.arn, at: asg.now, scale: asg.clock.timeScale)
                return
            }
        }
    }
}

/// When each draining instance may be terminated (seconds since 1970).
final class DrainBoard: Sendable {
    private let until = Mutex<[String: Double]>([:])
    func until(_ id: String) -> Double? { until.withLock { $0[id] } }
    func start(_ id: String, until t: Double) { until.withLock { $0[id] = t } }
    func finish(_ id: String) { _ = until.withLock { $0.removeValue(forKey: id) } }
}

/// Launch backoff per group: after a launch error or an instance that failed soon after its launch,
/// the group waits 10 (AWS) seconds before launching again, doubling with each further failure up
/// to 5 minutes; an instance that then stays healthy past the young period ends the backoff.
final class LaunchBackoff: Sendable {
    /// How long (AWS seconds, after the grace period) an instance counts as young.
    static let young = 300.0
    private let state = Mutex<[String: (failures: Int, last: Double, until: Double)]>([:])

    func failed(_ group: String, at now: Double, scale: Double) {
        state.withLock { all in
            let failures = (all[group]?.failures ?? 0) + 1
            let pause = Double(min(10 << min(failures - 1, 5), 300)) * scale
            all[group] = (failures, now, now + pause)
        }
    }

    func waiting(_ group: String, at now: Double) -> Bool { state.withLock { ($0[group]?.until ?? 0) > now } }

    /// Ends the backoff once an instance launched after the last failure has served healthily past its young period.
    func settle(_ group: String, members: [MemberRecord], at now: Double, scale: Double, grace: Double) {
        guard let last = state.withLock({ $0[group]?.last }) else { return }
        let proven = members.contains { m in
            m.lifecycleState == "InService" && m.healthStatus == "Healthy" && m.launched > last && now - m.launched >= Self.young * scale + grace
        }
        if proven { _ = state.withLock { $0.removeValue(forKey: group) } }
    }
}
