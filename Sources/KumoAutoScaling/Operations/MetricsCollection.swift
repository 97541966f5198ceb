import GRDB
import KumoCore
import KumoProtocols
import KumoStore

/// Group metrics (EnableMetricsCollection): the AWS/AutoScaling namespace, per
/// AutoScalingGroupName, published with Kumo's other built-in metrics each (scaled) minute.
extension AutoScaling {
    static let groupMetrics = [
        "GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupStandbyInstances",
        "GroupTerminatingInstances", "GroupTotalInstances", "GroupInServiceCapacity", "GroupPendingCapacity", "GroupTerminatingCapacity",
        "GroupTotalCapacity", "WarmPoolDesiredCapacity", "WarmPoolWarmedCapacity", "WarmPoolPendingCapacity", "WarmPoolTerminatingCapacity",
        "WarmPoolTotalCapacity", "GroupAndWarmPoolDesiredCapacity", "GroupAndWarmPoolTotalCapacity",
    ]

    func enableMetricsCollection(_ call: OperationCall) async throws -> ShapeValue {
        let wanted = (call.input["Metrics"]?.list ?? []).compactMap(\.string)
        guard call.input["Granularity"]?.string == "1Minute" else {
            throw AWSError.asgValidation("Valid value for Granularity is 1Minute.")
        }
        for m in wanted where !Self.groupMetrics.contains(m) { throw AWSError.asgValidation("Metric \(m) is not a valid group metric.") }
        try await setCollected(call) { current in Array(Set(current + (wanted.isEmpty ? Self.groupMetrics : wanted))).sorted() }
        return .structure([:])
    }

    func disableMetricsCollection(_ call: OperationCall) async throws -> ShapeValue {
        let unwanted = (call.input["Metrics"]?.list ?? []).compactMap(\.string)
        try await setCollected(call) { current in unwanted.isEmpty ? [] : current.filter { !unwanted.contains($0) } }
        return .structure([:])
    }

    func describeMetricCollectionTypes(_ call: OperationCall) async throws -> ShapeValue {
        ["Metrics": .list(Self.groupMetrics.map { ["Metric": .string($0)] }), "Granularities": [["Granularity": "1Minute"]]]
    }

    func setCollected(_ call: OperationCall, _ change: @escaping @Sendable ([String]) -> [String]) async throws {
        let name = call.input["AutoScalingGroupName"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            var g = try self.group(db, name, account: account, region: region)
            var c = g.settings
            let current = (c["CollectedMetrics"]?.list ?? []).compactMap(\.string)
            c["CollectedMetrics"] = .list(change(current).map { .string($0) })
            g.settings = c
            try g.update(db)
        }
    }

    /// The current value of every collected metric of every group.
    func groupMetricValues() async -> [(MetricKey, Double)] {
        let (groups, members) = (try? await store.read { db in (try GroupRecord.fetchAll(db), try MemberRecord.fetchAll(db)) }) ?? ([], [])
        var out: [(MetricKey, Double)] = []
        for g in groups {
            let c = ShapeValue(storageText: g.config)
            let collected = (c["CollectedMetrics"]?.list ?? []).compactMap(\.string)
            guard !collected.isEmpty else { continue }
            let mine = members.filter { $0.accountId == g.accountId && $0.region == g.region && $0.groupName == g.name }
            func count(_ states: [String]) -> Double { Double(mine.filter { states.contains($0.lifecycleState) }.count) }
            let inService = count(["InService"]), pending = count(["Pending", "Pending:Wait"]), terminating = count(["Terminating", "Terminating:Wait"])
            let warm = Double(mine.filter { $0.lifecycleState.hasPrefix("Warmed:") }.count)
            let warmPending = count(["Warmed:Pending"])
            let desired = Double(c["DesiredCapacity"]?.int ?? 0)
            let values: [String: Double] = [
                "GroupMinSize": Double(c["MinSize"]?.int ?? 0), "GroupMaxSize": Double(c["MaxSize"]?.int ?? 0), "GroupDesiredCapacity": desired,
                "GroupInServiceInstances": inService, "GroupPendingInstances": pending, "GroupStandbyInstances": 0,
                "GroupTerminatingInstances": terminating, "GroupTotalInstances": inService + pending + terminating,
                "GroupInServiceCapacity": inService, "GroupPendingCapacity": pending, "GroupTerminatingCapacity": terminating,
                "GroupTotalCapacity": inService + pending + terminating, "WarmPoolWarmedCapacity": warm - warmPending,
                "WarmPoolPendingCapacity": warmPending, "WarmPoolTerminatingCapacity": 0, "WarmPoolTotalCapacity": warm,
                "WarmPoolDesiredCapacity": warm, "GroupAndWarmPoolDesiredCapacity": desired + warm,
                "GroupAndWarmPoolTotalCapacity": inService + pending + terminating + warm,
            ]
            for name in collected {
                guard let v = values[name] else { continue }
                out.append((
                    MetricKey(namespace: "AWS/AutoScaling", name: name, dimensions: [("AutoScalingGroupName", g.name)]),
                    v))
            }
        }
        return out
    }
}
