import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Instance refresh: the group's instances are replaced by ones from the desired configuration
/// in batches its minimum and maximum healthy percentages allow, pausing at checkpoints; the
/// group takes the desired configuration once every instance is replaced. A rollback (asked
/// for, or automatic when the refresh fails) replaces what was deployed so far with instances
/// from the group's own configuration again. `Reconciler.refreshStep` does the replacing.
extension AutoScaling {
    /// Statuses in which a refresh still acts on the group.
    static let activeRefresh: Set = ["Pending", "InProgress", "Cancelling", "Baking", "RollbackInProgress"]
    /// A refresh gives up (or rolls back) after this many of its replacement instances failed.
    static let refreshFailureLimit = 3

    func activeRefresh(_ db: Database, _ g: GroupRecord) throws -> RefreshRecord? {
        try RefreshRecord.filter(Column("accountId") == g.accountId && Column("region") == g.region && Column("groupName") == g.name
            && Self.activeRefresh.contains(Column("status"))).fetchOne(db)
    }

    /// The template version a LaunchTemplate specification names now; AWS's ValidationError when it does not exist.
    @discardableResult
    func template(_ spec: ShapeValue, account: String, region: String) async throws -> TemplateVersion {
        try await launcher.checkTemplate(
            accountId: account, region: region, templateId: spec["LaunchTemplateId"]?.string,
            templateName: spec["LaunchTemplateName"]?.string, version: spec["Version"]?.string)
    }

    /// The template version a specification names now for the group (nil when it is gone).
    func resolve(_ spec: ShapeValue, _ g: GroupRecord) async -> TemplateVersion? {
        try? await template(spec, account: g.accountId, region: g.region)
    }

    /// How an instance's launch template shows in DescribeAutoScalingInstances: the version it was launched from.
    static func templateShape(_ t: TemplateVersion) -> ShapeValue {
        ["LaunchTemplateId": .string(t.id), "LaunchTemplateName": .string(t.name), "Version": .string(String(t.number))]
    }

    /// Whether an instance was launched from exactly this template version.
    static func matches(_ m: MemberRecord, _ t: TemplateVersion?) -> Bool {
        guard let t else { return false }
        let spec = ShapeValue(storageText: m.launchTemplate)
        return spec["LaunchTemplateId"]?.string == t.id && spec["Version"]?.string == String(t.number)
    }

    /// A rollback needs a desired configuration to undo and a numbered version of the group's template to return to.
    static func rollbackBlocker(desiredConfiguration: String?, group c: ShapeValue) -> String? {
        if desiredConfiguration == nil {
            return "The instance refresh cannot be rolled back: it was started without a desired configuration."
        }
        if Int(c["LaunchTemplate"]?["Version"]?.string ?? "") == nil {
            return "The instance refresh cannot be rolled back: the Auto Scaling group uses its launch template's $Latest or $Default version rather than a version number."
        }
        return nil
    }

    func refreshShape(_ r: RefreshRecord) -> ShapeValue {
        var prefs = ShapeValue(storageText: r.preferences).members ?? [:]
        prefs["MinHealthyPercentage"] = prefs["MinHealthyPercentage"] ?? 90
        prefs["SkipMatching"] = prefs["SkipMatching"] ?? false
        prefs["AutoRollback"] = prefs["AutoRollback"] ?? false
        prefs["ScaleInProtectedInstances"] = prefs["ScaleInProtectedInstances"] ?? "Wait"
        prefs["StandbyInstances"] = prefs["StandbyInstances"] ?? "Wait"
        if prefs["CheckpointPercentages"] != nil, prefs["CheckpointDelay"] == nil { prefs["CheckpointDelay"] = 3600 }
        var out: [String: ShapeValue] = [
            "InstanceRefreshId": .string(r.id), "AutoScalingGroupName": .string(r.groupName), "Status": .string(r.status),
            "StartTime": .timestamp(Date(timeIntervalSince1970: r.started)), "InstancesToUpdate": .integer(Int64(r.remaining)),
            "PercentageComplete": .integer(Int64(r.percentage)), "Preferences": .structure(prefs), "Strategy": "Rolling",
        ]
        if let reason = r.statusReason { out["StatusReason"] = .string(reason) }
        if let end = r.ended { out["EndTime"] = .timestamp(Date(timeIntervalSince1970: end)) }
        if let d = r.desiredConfiguration { out["DesiredConfiguration"] = ShapeValue(storageText: d) }
        if let started = r.rollbackStarted {
            out["RollbackDetails"] = [
                "RollbackReason": .string(r.rollbackReason ?? ""), "RollbackStartTime": .timestamp(Date(timeIntervalSince1970: started)),
                "PercentageCompleteOnRollback": .integer(Int64(r.rollbackPercentage ?? 0)),
                "InstancesToUpdateOnRollback": .integer(Int64(r.rollbackToUpdate ?? 0)),
            ]
        }
        return .structure(out)
    }

    /// AWS's limits on the preferences, as ValidationError.
    static func checkPreferences(_ p: ShapeValue) throws {
        let minimum = p["MinHealthyPercentage"]?.int, maximum = p["MaxHealthyPercentage"]?.int
        if let minimum, !(0...100).contains(minimum) {
            throw AWSError.asgValidation("MinHealthyPercentage must be between 0 and 100.")
        }
        if let maximum {
            guard (100...200).contains(maximum) else { throw AWSError.asgValidation("MaxHealthyPercentage must be between 100 and 200.") }
            guard maximum - (minimum ?? 90) <= 100 else {
                throw AWSError.asgValidation("The difference between MaxHealthyPercentage and MinHealthyPercentage cannot be greater than 100.")
            }
        }
        if let warmup = p["InstanceWarmup"]?.int, warmup < 0 { throw AWSError.asgValidation("InstanceWarmup must not be negative.") }
        let checkpoints = (p["CheckpointPercentages"]?.list ?? []).compactMap(\.int)
        if p["CheckpointDelay"] != nil, checkpoints.isEmpty {
            throw AWSError.asgValidation("CheckpointDelay requires CheckpointPercentages to be specified.")
        }
        if let delay = p["CheckpointDelay"]?.int, !(0...172_800).contains(delay) {
            throw AWSError.asgValidation("CheckpointDelay must be between 0 and 172800 seconds.")
        }
        if !checkpoints.isEmpty {
            guard checkpoints.allSatisfy({ (1...100).contains($0) }), zip(checkpoints, checkpoints.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw AWSError.asgValidation("CheckpointPercentages must be unique values between 1 and 100 in ascending order.")
            }
        }
        for (key, allowed) in [("ScaleInProtectedInstances", ["Refresh", "Ignore", "Wait"]), ("StandbyInstances", ["Terminate", "Ignore", "Wait"])] {
            if let v = p[key]?.string, !allowed.contains(v) {
                throw AWSError.asgValidation("Value '\(v)' at '\(key)' failed to satisfy constraint: Member must satisfy enum value set: [\(allowed.joined(separator: ", "))]")
            }
        }
    }

    func startInstanceRefresh(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let preferences = input["Preferences"] ?? .empty
        try Self.checkPreferences(preferences)
        let g = try await store.read { db in try self.group(db, name, account: account, region: region) }
        let c = ShapeValue(storageText: g.config)
        let desired = input["DesiredConfiguration"]
        let target = desired?["LaunchTemplate"] ?? c["LaunchTemplate"] ?? .empty
        let resolved = try await template(target, account: account, region: region)
        if preferences["AutoRollback"]?.bool == true, let why = Self.rollbackBlocker(desiredConfiguration: desired?.storageText, group: c) {
            throw AWSError.asgValidation("AutoRollback is not possible. " + why)
        }
        let alarmNames = (preferences["AlarmSpecification"]?["Alarms"]?.list ?? []).compactMap(\.string)
        if !alarmNames.isEmpty {
            let known = await alarms.states(accountId: account, region: region, names: alarmNames)
            if let missing = alarmNames.first(where: { known[$0] == nil }) {
                throw AWSError.asgValidation("The alarm \(missing) does not exist.")
            }
        }
        let skipMatching = preferences["SkipMatching"]?.bool ?? false
        let ignoreProtected = preferences["ScaleInProtectedInstances"]?.string == "Ignore"
        let t = now
        let id = UUID().uuidString.lowercased()
        try await store.write { db in
            if try self.activeRefresh(db, g) != nil {
                throw AWSError(code: "InstanceRefreshInProgress", message: "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
            }
            let alive = try MemberRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name
                && ["Pending", "Pending:Wait", "InService"].contains(Column("lifecycleState"))).fetchAll(db)
            let replace = alive.filter { m in
                !(ignoreProtected && m.protectedFromScaleIn) && !(skipMatching && Self.matches(m, resolved))
            }
            var r = RefreshRecord(
                id: id, accountId: account, region: region, groupName: name, status: "InProgress", statusReason: nil, started: t, ended: nil,
                toUpdate: replace.count, preferences: preferences.storageText, desiredConfiguration: desired?.storageText)
            r.replaceIds = Set(replace.map(\.instanceId))
            r.remaining = replace.count
            r.percentage = replace.isEmpty ? 100 : 0
            try r.insert(db)
        }
        return ["InstanceRefreshId": .string(id)]
    }

    func describeInstanceRefreshes(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let ids = (call.input["InstanceRefreshIds"]?.list ?? []).compactMap(\.string)
        let account = call.context.accountId, region = call.context.region
        let rows = try await store.read { db in
            try RefreshRecord.filter(Column("accountId") == account && Column("region") == region && Column("groupName") == name)
                .order(Column("started").desc).fetchAll(db)
        }
        return ["InstanceRefreshes": .list(rows.filter { ids.isEmpty || ids.contains($0.id) }.map(refreshShape))]
    }

    func cancelInstanceRefresh(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let t = now
        let id = try await store.write { db -> String in
            let g = try self.group(db, name, account: account, region: region)
            guard var r = try self.activeRefresh(db, g) else { throw Self.noActiveRefresh(name) }
            r.status = "Cancelled"
            r.statusReason = "Cancelled due to user request."
            r.ended = t
            try r.update(db)
            return r.id
        }
        return ["InstanceRefreshId": .string(id)]
    }

    func rollbackInstanceRefresh(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let g = try await store.read { db in try self.group(db, name, account: account, region: region) }
        let c = ShapeValue(storageText: g.config)
        let back = await resolve(c["LaunchTemplate"] ?? .empty, g)
        let t = now
        let id = try await store.write { db -> String in
            guard var r = try self.activeRefresh(db, g), r.status != "RollbackInProgress" else { throw Self.noActiveRefresh(name) }
            if let why = Self.rollbackBlocker(desiredConfiguration: r.desiredConfiguration, group: c) { throw AWSError(code: "IrreversibleInstanceRefresh", message: why) }
            try self.beginRollback(db, &r, g, to: back, reason: "Rollback requested by user.", at: t)
            return r.id
        }
        return ["InstanceRefreshId": .string(id)]
    }

    static func noActiveRefresh(_ group: String) -> AWSError {
        AWSError(code: "ActiveInstanceRefreshNotFound", message: "No in progress or pending Instance Refresh found for Auto Scaling group \(group)")
    }

    /// Turns a refresh into its rollback: the instances it launched (those not on the group's
    /// own template version) are the ones to replace now.
    func beginRollback(_ db: Database, _ r: inout RefreshRecord, _ g: GroupRecord, to back: TemplateVersion?, reason: String, at t: Double) throws {
        let alive = try MemberRecord.filter(Column("accountId") == g.accountId && Column("region") == g.region && Column("groupName") == g.name
            && ["Pending", "Pending:Wait", "InService"].contains(Column("lifecycleState"))).fetchAll(db)
        r.rollbackReason = reason
        r.rollbackStarted = t
        r.rollbackPercentage = r.percentage
        r.rollbackToUpdate = r.remaining
        r.status = "RollbackInProgress"
        r.statusReason = reason
        r.replaceIds = Set(alive.filter { !Self.matches($0, back) }.map(\.instanceId))
        r.failures = 0
        r.pausedUntil = nil
        try r.update(db)
        try activity(db, g, description: "Rolling back instance refresh \(r.id)", cause: "At \(Self.iso(t)) a rollback of the instance refresh started: \(reason)")
    }

    /// Counts a failed replacement (a launch error, or an instance launched during the refresh that
    /// failed its health checks) against the group's running refresh.
    func noteReplacementFailure(_ g: GroupRecord, launched: Double?) async {
        _ = try? await store.write { db in
            guard var r = try self.activeRefresh(db, g), r.status == "InProgress" || r.status == "RollbackInProgress" else { return }
            if let launched, launched < (r.rollbackStarted ?? r.started) { return }
            r.failures += 1
            try r.update(db)
        }
    }
}
