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
    func policyShape(_ p: PolicyRecord) -> ShapeValue {
        var m = ShapeValue(storageText: p.config).members ?? [:]
        m["PolicyARN"] = .string(p.arn)
        m["AutoScalingGroupName"] = .string(p.groupName)
        let region = p.region, account = p.accountId
        m["Alarms"] = .list(((try? JSONValue.parse(p.alarms))?.array?.compactMap(\.string) ?? []).map {
            ["AlarmName": .string($0), "AlarmARN": .string("arn:aws:cloudwatch:\(region):\(account):alarm:\($0)")]
        })
        if m["Enabled"] == nil { m["Enabled"] = true }
        return .structure(m)
    }

    func putScalingPolicy(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let groupName = input["AutoScalingGroupName"]?.string ?? ""
        let name = input["PolicyName"]?.string ?? ""
        let type = input["PolicyType"]?.string ?? "SimpleScaling"
        switch type {
        case "SimpleScaling":
            guard input["ScalingAdjustment"] != nil else { throw AWSError.asgValidation("ScalingAdjustment is required for SimpleScaling policy type.") }
            guard input["AdjustmentType"] != nil else { throw AWSError.asgValidation("AdjustmentType is required for SimpleScaling policy type.") }
        case "StepScaling":
            guard !(input["StepAdjustments"]?.list ?? []).isEmpty else { throw AWSError.asgValidation("StepAdjustments is required for StepScaling policy type.") }
        case "TargetTrackingScaling":
            let spec = input["TargetTrackingConfiguration"]?["PredefinedMetricSpecification"]
            let metric = spec?["PredefinedMetricType"]?.string
            switch metric {
            case "ASGAverageCPUUtilization": break
            case "ALBRequestCountPerTarget":
                guard Self.targetGroupDimension(spec?["ResourceLabel"]?.string) != nil else {
                    throw AWSError.asgValidation(
                        "ResourceLabel must be app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id> for the predefined metric type ALBRequestCountPerTarget.")
                }
            default:
                throw AWSError.asgValidation(
                    "Kumo's target tracking serves the ASGAverageCPUUtilization and ALBRequestCountPerTarget metrics; \(metric ?? "a customized metric") is not served yet.")
            }
        default:
            throw AWSError.asgValidation("Policy type \(type) is not supported.")
        }
        let (g, existing) = try await store.read { db in
            (try self.group(db, groupName, account: account, region: region),
             try PolicyRecord.filter(Column("groupName") == groupName && Column("name") == name && Column("accountId") == account && Column("region") == region).fetchOne(db))
        }
        let arn = existing?.arn ?? "arn:aws:autoscaling:\(region):\(account):scalingPolicy:\(UUID().uuidString.lowercased()):autoScalingGroupName/\(groupName):policyName/\(name)"
        var config = input.members ?? [:]
        config["PolicyType"] = .string(type)
        var owned: [String] = []
        if type == "TargetTrackingScaling", let tt = input["TargetTrackingConfiguration"] {
            // Target tracking owns two alarms, as on AWS: a quick one above the target, a slow one below it.
            let target = tt["TargetValue"]?.double ?? 50
            let id = UUID().uuidString.lowercased()
            let high = "TargetTracking-\(groupName)-AlarmHigh-\(id)", low = "TargetTracking-\(groupName)-AlarmLow-\(id)"
            // CPU: the group's average; requests per target: the target group's per-target sum.
            let perTarget = Self.targetGroupDimension(tt["PredefinedMetricSpecification"]?["ResourceLabel"]?.string)
            let dims: ShapeValue = perTarget.map { [["Name": "TargetGroup", "Value": .string($0)]] }
                ?? [["Name": "AutoScalingGroupName", "Value": .string(groupName)]]
            let (namespace, metricName, statistic) = perTarget == nil
                ? ("AWS/EC2", "CPUUtilization", "Average") : ("AWS/ApplicationELB", "RequestCountPerTarget", "Sum")
            func alarm(_ name: String, _ op: String, _ threshold: Double, _ periods: Int) -> ShapeValue {
                [
                    "AlarmName": .string(name), "Namespace": .string(namespace), "MetricName": .string(metricName), "Dimensions": dims,
                    "Statistic": .string(statistic),
                    "Period": 60, "EvaluationPeriods": .integer(Int64(periods)), "Threshold": .double(threshold), "ComparisonOperator": .string(op),
                    "AlarmActions": [.string(arn)], "AlarmDescription": .string("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy \(arn)."),
                ]
            }
            _ = try await alarms.putAlarm(accountId: account, region: region, parameters: alarm(high, "GreaterThanThreshold", target, 3))
            owned.append(high)
            if tt["DisableScaleIn"]?.bool != true {
                _ = try await alarms.putAlarm(accountId: account, region: region, parameters: alarm(low, "LessThanThreshold", target * 0.9, 15))
                owned.append(low)
            }
            if let old = existing, let names = (try? JSONValue.parse(old.alarms))?.array?.compactMap(\.string), !names.isEmpty {
                await alarms.deleteAlarms(accountId: account, region: region, names: names)
            }
        }
        let record = PolicyRecord(
            arn: arn, accountId: account, region: region, groupName: g.name, name: name, config: ShapeValue.structure(config).storageText,
            alarms: JSONValue.array(owned.map { .string($0) }).serialized())
        try await store.write { db in try record.insert(db, onConflict: .replace) }
        let alarmsOut: [ShapeValue] = owned.map { ["AlarmName": .string($0), "AlarmARN": .string("arn:aws:cloudwatch:\(region):\(account):alarm:\($0)")] }
        return ["PolicyARN": .string(arn), "Alarms": .list(alarmsOut)]
    }

    /// `targetgroup/<name>/<id>` from an ALBRequestCountPerTarget resource label.
    static func targetGroupDimension(_ label: String?) -> String? {
        let parts = (label ?? "").split(separator: "/").map(String.init)
        guard parts.count == 6, parts[0] == "app", parts[3] == "targetgroup" else { return nil }
        return parts[3...].joined(separator: "/")
    }

    func describePolicies(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let group = call.input["AutoScalingGroupName"]?.string
        let names = (call.input["PolicyNames"]?.list ?? []).compactMap(\.string)
        let rows = try await store.read { db in try PolicyRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("name")).fetchAll(db) }
        return ["ScalingPolicies": .list(rows.filter { (group == nil || $0.groupName == group) && (names.isEmpty || names.contains($0.name) || names.contains($0.arn)) }.map(policyShape))]
    }

    func deletePolicy(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let name = call.input["PolicyName"]?.string ?? ""
        let group = call.input["AutoScalingGroupName"]?.string
        let removed = try await store.write { db -> PolicyRecord? in
            guard let p = try PolicyRecord.filter(Column("accountId") == account && Column("region") == region).fetchAll(db)
                .first(where: { ($0.name == name && (group == nil || $0.groupName == group)) || $0.arn == name })
            else { throw AWSError.asgValidation("Policy not found") }
            try p.delete(db)
            return p
        }
        if let names = removed.flatMap({ (try? JSONValue.parse($0.alarms))?.array?.compactMap(\.string) }), !names.isEmpty {
            await alarms.deleteAlarms(accountId: account, region: region, names: names)
        }
        return .empty
    }

    func executePolicy(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let name = call.input["PolicyName"]?.string ?? ""
        let group = call.input["AutoScalingGroupName"]?.string
        let policy = try await store.read { db in
            try PolicyRecord.filter(Column("accountId") == account && Column("region") == region).fetchAll(db)
                .first { ($0.name == name && (group == nil || $0.groupName == group)) || $0.arn == name }
        }
        guard let policy else { throw AWSError.asgValidation("No scaling policy found for the given policy name") }
        try await apply(policy, cause: "a user request executed policy \(policy.name)", value: call.input["MetricValue"]?.double,
                        threshold: call.input["BreachThreshold"]?.double, honorCooldown: call.input["HonorCooldown"]?.bool ?? false)
        return .empty
    }

    /// Runs a policy: the new desired capacity, bounded by min and max, and the activity that says why.
    func apply(_ policy: PolicyRecord, cause: String, value: Double?, threshold: Double?, honorCooldown: Bool, alarmName: String? = nil) async throws {
        let c = ShapeValue(storageText: policy.config)
        let t = now
        try await store.write { db in
            var g = try self.group(db, policy.groupName, account: policy.accountId, region: policy.region)
            var config = g.settings
            let current = config["DesiredCapacity"]?.int ?? 0
            let min = config["MinSize"]?.int ?? 0, max = config["MaxSize"]?.int ?? 0
            var desired = current
            switch c["PolicyType"]?.string {
            case "TargetTrackingScaling":
                guard let value, let target = c["TargetTrackingConfiguration"]?["TargetValue"]?.double, target > 0 else { return }
                let wanted = Int((Double(Swift.max(current, 1)) * value / target).rounded(.up))
                // Until new instances have warmed up (and their CPU counts), no further step either way.
                guard g.cooldownUntil <= t else { return }
                if value > target {
                    desired = Swift.max(wanted, current + 1)
                } else if c["TargetTrackingConfiguration"]?["DisableScaleIn"]?.bool != true, wanted < current {
                    // Scale in one instance at a time, and only when the metric says the rest can carry the load.
                    desired = Swift.max(wanted, current - 1)
                }
            case "StepScaling":
                let diff = (value ?? 0) - (threshold ?? 0)
                for step in c["StepAdjustments"]?.list ?? [] {
                    let lower = step["MetricIntervalLowerBound"]?.double ?? -Double.infinity
                    let upper = step["MetricIntervalUpperBound"]?.double ?? Double.infinity
                    if diff >= lower && diff < upper {
                        desired = Self.adjusted(current, by: step["ScalingAdjustment"]?.int ?? 0, type: c["AdjustmentType"]?.string, c)
                        break
                    }
                }
            default:
                if honorCooldown || alarmName != nil, g.cooldownUntil > t { return }
                desired = Self.adjusted(current, by: c["ScalingAdjustment"]?.int ?? 0, type: c["AdjustmentType"]?.string, c)
            }
            desired = Swift.min(Swift.max(desired, min), max)
            guard desired != current else { return }
            config["DesiredCapacity"] = .integer(Int64(desired))
            g.settings = config
            let cooldown = c["PolicyType"]?.string == "TargetTrackingScaling"
                ? Double(c["EstimatedInstanceWarmup"]?.int ?? config["DefaultInstanceWarmup"]?.int ?? config["DefaultCooldown"]?.int ?? 300)
                : Double(c["Cooldown"]?.int ?? config["DefaultCooldown"]?.int ?? 300)
            g.cooldownUntil = t + cooldown * self.clock.timeScale
            try g.update(db)
            let trigger = alarmName.map { "a monitor alarm \($0) in state ALARM triggered policy \(policy.name)" } ?? cause
            try self.activity(
                db, g, description: "Setting the desired capacity of \(g.name) from \(current) to \(desired)",
                cause: "At \(Self.iso(t)) \(trigger) changing the desired capacity from \(current) to \(desired).")
        }
    }

    static func adjusted(_ current: Int, by n: Int, type: String?, _ c: ShapeValue) -> Int {
        switch type {
        case "ExactCapacity": return n
        case "PercentChangeInCapacity":
            var delta = Int((Double(current) * Double(n) / 100).rounded(.towardZero))
            let minStep = c["MinAdjustmentMagnitude"]?.int ?? 1
            if n != 0, abs(delta) < minStep { delta = n > 0 ? minStep : -minStep }
            return current + delta
        default: return current + n
        }
    }
}
