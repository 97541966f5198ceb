import GRDB
import KumoCore
import KumoProtocols
import KumoStore
public import ServiceLifecycle
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Evaluates every alarm once per its period (scaled by `--time-scale`) against the latest
/// datapoints, moves it between OK, ALARM and INSUFFICIENT_DATA, and runs its actions.
public final class AlarmEvaluator: Service, Sendable {
    let cw: CloudWatch
    private let evaluated = Mutex<[String: Double]>([:])

    init(cw: CloudWatch) { self.cw = cw }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(100))
                // Every 100 ms, so through one prepared statement rather than SQL built each time.
                let alarms = (try? await cw.store.read { db in
                    try AlarmRecord.fetchAll(db.cachedStatement(sql: "SELECT * FROM \(AlarmRecord.databaseTableName)"))
                }) ?? []
                let now = cw.clock.now.timeIntervalSince1970
                // Composite alarms follow their children at once.
                let states = Dictionary(alarms.map { ($0.accountId + "|" + $0.region + "|" + $0.name, $0.state) }) { a, _ in a }
                for alarm in alarms {
                    if let rule = ShapeValue(storageText: alarm.config)["AlarmRule"]?.string {
                        await evaluateComposite(alarm, rule: rule) { states[alarm.accountId + "|" + alarm.region + "|" + $0] }
                        continue
                    }
                    let window = Double(CloudWatch.alarmPeriod(ShapeValue(storageText: alarm.config))) * cw.clock.timeScale
                    let key = alarm.accountId + "|" + alarm.region + "|" + alarm.name
                    let last = evaluated.withLock { $0[key] } ?? 0
                    guard now - last >= window else { continue }
                    evaluated.withLock { $0[key] = now }
                    await evaluate(alarm, now: now, window: window)
                }
            }
        }
    }

    func evaluate(_ alarm: AlarmRecord, now: Double, window: Double) async {
        let c = ShapeValue(storageText: alarm.config)
        let periods = max(1, c["EvaluationPeriods"]?.int ?? 1)
        let needed = c["DatapointsToAlarm"]?.int ?? periods
        let statistic = c["Statistic"]?.string ?? c["ExtendedStatistic"]?.string ?? "Average"
        let threshold = c["Threshold"]?.double ?? 0
        let op = c["ComparisonOperator"]?.string ?? "GreaterThanOrEqualToThreshold"
        let compare = CloudWatch.operators[op] ?? { $0 >= $1 }
        let start = now - Double(periods) * window
        let values: [(Double, Double)]
        if let queries = c["Metrics"]?.list {
            // A metric math alarm: the datapoints of the query that returns data.
            let results = try? await cw.runQueries(
                queries, account: alarm.accountId, region: alarm.region, start: start, end: now, periodScale: cw.clock.timeScale)
            values = (results?.first { $0.returnData }?.points ?? []).map { ($0.time, $0.value) }
        } else {
            let buckets = (try? await cw.store.read { db in
                try cw.buckets(
                    db, account: alarm.accountId, region: alarm.region, namespace: c["Namespace"]?.string ?? "", name: c["MetricName"]?.string ?? "",
                    dimensions: CloudWatch.dimensionKey(c["Dimensions"]?.list ?? []), start: start, end: now, period: window)
            }) ?? []
            values = buckets.compactMap { b in b.aggregate.value(statistic).map { (b.start, $0) } }
        }
        let treat = c["TreatMissingData"]?.string ?? "missing"
        var breaching = values.filter { compare($0.1, threshold) }.count
        let missing = periods - values.count
        if treat == "breaching" { breaching += missing }
        let state: String
        if breaching >= needed {
            state = "ALARM"
        } else if values.isEmpty && treat != "notBreaching" && treat != "breaching" {
            if treat == "ignore" { return }
            state = "INSUFFICIENT_DATA"
        } else {
            state = "OK"
        }
        let shown = values.map { String(format2($0.1)) + " (" + Self.stamp($0.0) + ")" }.joined(separator: ", ")
        let words = CloudWatch.operatorWords[op] ?? op
        let reason: String
        switch state {
        case "ALARM":
            reason = "Threshold Crossed: \(breaching) out of the last \(periods) datapoints [\(shown)] \(breaching == 1 ? "was" : "were") \(words) the threshold (\(format2(threshold))) (minimum \(needed) datapoint\(needed == 1 ? "" : "s") for OK -> ALARM transition)."
        case "OK":
            reason = "Threshold Crossed: \(values.count) datapoint\(values.count == 1 ? "" : "s") [\(shown)] \(values.count == 1 ? "was" : "were") not \(words) the threshold (\(format2(threshold)))."
        default:
            reason = "Insufficient Data: \(periods) datapoint\(periods == 1 ? " was" : "s were") unknown."
        }
        guard state != alarm.state || alarm.stateReason.hasPrefix("Unchecked") else {
            // Auto Scaling actions run again every period while the alarm stays in ALARM, as on AWS.
            if state == "ALARM" { await cw.repeatScalingActions(alarm, value: values.last?.1) }
            return
        }
        await cw.transition(alarm, to: state, reason: reason, data: nil, value: values.last?.1)
    }

    /// ALARM while the rule is true, OK while it is false.
    func evaluateComposite(_ alarm: AlarmRecord, rule text: String, state: (String) -> String?) async {
        guard let rule = try? AlarmRule.parse(text) else { return }
        let firing = rule.evaluate(state)
        let next = firing ? "ALARM" : "OK"
        guard next != alarm.state else { return }
        let children = rule.alarms.map { "\($0) is \(state($0) ?? "missing")" }.joined(separator: ", ")
        let reason = "The alarm rule \(text) evaluated to \(firing ? "TRUE" : "FALSE") (\(children))."
        await cw.transition(alarm, to: next, reason: reason, data: nil)
    }

    func format2(_ v: Double) -> String {
        let rounded = (v * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) + ".0" : String(rounded)
    }

    static func stamp(_ t: Double) -> String {
        let d = Date(timeIntervalSince1970: t)
        let iso = Timestamp.iso8601(d)  // 2026-11-22T07:20:00Z
        let date = iso.prefix(10).split(separator: "-")
        return "\(date[2])/\(date[1])/\(date[0].suffix(2)) \(iso.dropFirst(11).prefix(8))"
    }
}

/// Publishes the built-in metrics (`AWS/SQS`, `AWS/CloudFront`, `AWS/ApplicationELB`, `AWS/EC2`...)
/// from the internal metrics interface into CloudWatch once a minute (scaled): counters as
/// the sum since the last minute, gauges as their value.
public final class MetricsPublisher: Service, Sendable {
    let cw: CloudWatch
    let metrics: ServiceMetrics
    let accountId: String
    let region: String
    private let last = Mutex<[MetricKey: Double]>([:])

    init(cw: CloudWatch, metrics: ServiceMetrics, accountId: String, region: String) {
        self.cw = cw
        self.metrics = metrics
        self.accountId = accountId
        self.region = region
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: cw.clock.duration(awsSeconds: 60))
                await publish()
            }
        }
    }

    func publish() async {
        let (counters, gauges) = await metrics.collect()
        let now = cw.clock.now.timeIntervalSince1970
        var rows: [DatapointRecord] = []
        func row(_ key: MetricKey, _ value: Double) -> DatapointRecord {
            DatapointRecord(
                accountId: accountId, region: region, namespace: key.namespace, name: key.name, dimensions: key.dimensions.joined(separator: "\n"),
                timestamp: now, sampleCount: 1, sum: value, minimum: value, maximum: value, unit: nil)
        }
        let deltas = last.withLock { previous -> [(MetricKey, Double)] in
            let out = counters.map { ($0.0, $0.1 - (previous[$0.0] ?? 0)) }
            for (k, v) in counters { previous[k] = v }
            return out
        }
        for (key, delta) in deltas where delta > 0 { rows.append(row(key, delta)) }
        for (key, value) in gauges where key.namespace.hasPrefix("AWS/") { rows.append(row(key, value)) }
        let toStore = rows
        _ = try? await cw.store.write { db in
            for r in toStore { try r.insert(db) }
            try Retention.apply(db, now: now)
        }
    }
}
