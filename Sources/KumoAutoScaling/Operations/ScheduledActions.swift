import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Scheduled actions: a group's minimum, maximum or desired capacity set at a time, or on a
/// cron recurrence (UTC). The reconciler runs them when due; a recurrence's interval is
/// shortened by `--time-scale` like every other AWS period.
extension AutoScaling {
    func scheduledShape(_ a: ScheduledActionRecord) -> ShapeValue {
        var out = ShapeValue(storageText: a.config).members ?? [:]
        out["AutoScalingGroupName"] = .string(a.groupName)
        out["ScheduledActionName"] = .string(a.name)
        out["ScheduledActionARN"] = .string(a.arn)
        if let next = a.nextRun { out["StartTime"] = .timestamp(Date(timeIntervalSince1970: next)) }
        return .structure(out)
    }

    func putScheduledUpdateGroupAction(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let groupName = input["AutoScalingGroupName"]?.string ?? ""
        let name = input["ScheduledActionName"]?.string ?? ""
        let t = now
        guard input["MinSize"] != nil || input["MaxSize"] != nil || input["DesiredCapacity"] != nil else {
            throw AWSError.asgValidation("At least one of MinSize, MaxSize or DesiredCapacity must be specified.")
        }
        var config: [String: ShapeValue] = [:]
        for key in ["MinSize", "MaxSize", "DesiredCapacity", "Recurrence", "EndTime", "TimeZone"] { config[key] = input[key] }
        if let zone = input["TimeZone"]?.string, !["UTC", "Etc/UTC", "GMT", "Etc/GMT"].contains(zone) {
            throw AWSError.asgValidation("Kumo runs recurrences in UTC; the time zone \(zone) is not supported.")
        }
        let start = (input["StartTime"] ?? input["Time"])?.date?.timeIntervalSince1970
        let end = input["EndTime"]?.date?.timeIntervalSince1970
        if let start, start < t - 1, input["Recurrence"] == nil { throw AWSError.asgValidation("Given start time is in the past") }
        if let start, let end, end <= start { throw AWSError.asgValidation("Given end time is before start time") }
        var next = start
        if let recurrence = input["Recurrence"]?.string {
            guard let cron = Cron(recurrence) else {
                throw AWSError.asgValidation("Given recurrence string \"\(recurrence)\" is not a valid cron expression (minute hour day-of-month month day-of-week).")
            }
            next = nextRun(cron, after: max(start ?? t, t))
        }
        guard let next else { throw AWSError.asgValidation("Either StartTime, Time or Recurrence must be specified.") }
        let settings = ShapeValue.structure(config).storageText
        try await store.write { db in
            _ = try self.group(db, groupName, account: account, region: region)
            let arn = "arn:aws:autoscaling:\(region):\(account):scheduledUpdateGroupAction:\(UUID().uuidString.lowercased()):autoScalingGroupName/\(groupName):scheduledActionName/\(name)"
            let existing = try ScheduledActionRecord.fetchOne(db, key: ["accountId": account, "region": region, "groupName": groupName, "name": name])
            try ScheduledActionRecord(
                accountId: account, region: region, groupName: groupName, name: name, arn: existing?.arn ?? arn,
                config: settings, nextRun: next, endTime: end
            ).save(db)
        }
        return .structure([:])
    }

    /// The next run of a recurrence after `time`: the cron's own gap, shortened by the time scale.
    func nextRun(_ cron: Cron, after time: Double) -> Double? {
        guard let due = cron.next(after: time) else { return nil }
        return time + (due - time) * clock.timeScale
    }

    func describeScheduledActions(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let group = call.input["AutoScalingGroupName"]?.string
        let names = Set((call.input["ScheduledActionNames"]?.list ?? []).compactMap(\.string))
        let all = try await store.read { db in
            try ScheduledActionRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("groupName"), Column("name"))
                .fetchAll(db)
        }
        let shown = all.filter { (group == nil || $0.groupName == group) && (names.isEmpty || names.contains($0.name)) }
        return ["ScheduledUpdateGroupActions": .list(shown.map(scheduledShape))]
    }

    func deleteScheduledAction(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let groupName = call.input["AutoScalingGroupName"]?.string ?? ""
        let name = call.input["ScheduledActionName"]?.string ?? ""
        try await store.write { db in
            _ = try self.group(db, groupName, account: account, region: region)
            guard try ScheduledActionRecord.deleteOne(db, key: ["accountId": account, "region": region, "groupName": groupName, "name": name]) else {
                throw AWSError.asgValidation("Scheduled Update Group Action name not found - Could not find scheduled action \(name) for group \(groupName)")
            }
        }
        return .structure([:])
    }

    /// Runs the group's scheduled actions that are due: sets its bounds and desired capacity,
    /// records the activity, and moves a recurrence to its next run (one-time actions end).
    func runScheduledActions(_ g: GroupRecord) async {
        let t = now
        let due = (try? await store.read { db in
            try ScheduledActionRecord.filter(
                Column("accountId") == g.accountId && Column("region") == g.region && Column("groupName") == g.name && Column("nextRun") <= t
            ).fetchAll(db)
        }) ?? []
        for action in due {
            let c = ShapeValue(storageText: action.config)
            var next: Double?
            if let recurrence = c["Recurrence"]?.string, let cron = Cron(recurrence) { next = nextRun(cron, after: t) }
            if let end = action.endTime, let n = next, n > end { next = nil }
            let following = next
            _ = try? await store.write { db in
                var action = action
                guard var group = try GroupRecord.fetchOne(db, key: ["accountId": g.accountId, "region": g.region, "name": g.name]) else { return }
                var config = group.settings
                let before = config["DesiredCapacity"]?.int ?? 0
                var min = c["MinSize"]?.int ?? config["MinSize"]?.int ?? 0
                var max = c["MaxSize"]?.int ?? config["MaxSize"]?.int ?? 0
                if max < min { max = min }
                var desired = c["DesiredCapacity"]?.int ?? before
                desired = Swift.min(Swift.max(desired, min), max)
                min = Swift.min(min, max)
                config["MinSize"] = .integer(Int64(min))
                config["MaxSize"] = .integer(Int64(max))
                config["DesiredCapacity"] = .integer(Int64(desired))
                group.settings = config
                try group.update(db)
                try self.activity(
                    db, group, description: "Executing scheduled action \(action.name)",
                    cause: "At \(Self.iso(t)) a scheduled action update of AutoScalingGroup constraints to min: \(min), max: \(max), desired: \(desired) changing the desired capacity from \(before) to \(desired). At \(Self.iso(t)) the scheduled action \(action.name) executed.")
                if let following {
                    action.nextRun = following
                    try action.update(db)
                } else {
                    try action.delete(db)
                }
            }
        }
    }
}
