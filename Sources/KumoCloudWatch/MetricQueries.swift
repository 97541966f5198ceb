import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The queries of GetMetricData and of metric math alarms: metric statistics read from the
/// store, then expressions evaluated over them (`MetricMath`).
extension CloudWatch {
    /// An alarm's period: its own, or that of the metric math query that returns its data.
    static func alarmPeriod(_ c: ShapeValue) -> Int {
        if let p = c["Period"]?.int { return p }
        let queries = c["Metrics"]?.list ?? []
        let returned = queries.first { $0["ReturnData"]?.bool ?? false } ?? queries.first
        return returned?["MetricStat"]?["Period"]?.int ?? returned?["Period"]?.int
            ?? queries.compactMap { $0["MetricStat"]?["Period"]?.int }.min() ?? 60
    }

    struct QueryResult {
        var id: String
        var label: String
        var points: [(time: Double, value: Double)]
        var returnData: Bool
    }

    /// `periodScale` shortens every period (alarms evaluate on the scaled clock; GetMetricData does not).
    func runQueries(
        _ queries: [ShapeValue], account: String, region: String, start: Double, end: Double, periodScale: Double = 1
    ) async throws -> [QueryResult] {
        var ids = Set<String>()
        for q in queries {
            let id = q["Id"]?.string ?? ""
            guard ids.insert(id).inserted else { throw AWSError.cwValidation("The value \(id) for field Id is not unique.") }
            guard (q["MetricStat"] == nil) != (q["Expression"] == nil) else {
                throw AWSError.cwValidation("Exactly one of MetricStat and Expression must be given for the query \(id).")
            }
        }
        // Metric statistics first.
        var stats: [(id: String, series: MetricMath.Series)] = []
        var periods: [Double] = []
        for q in queries {
            guard let stat = q["MetricStat"] else { continue }
            let metric = stat["Metric"] ?? .empty
            let period = Double(stat["Period"]?.int ?? 60) * periodScale
            periods.append(period)
            let statistic = stat["Stat"]?.string ?? "Average"
            let dims = Self.dimensionKey(metric["Dimensions"]?.list ?? [])
            // A period finer than what is kept at the start time's age gets no values, as on AWS.
            let served = Retention.servesPeriod(period / periodScale, from: start, now: clock.now.timeIntervalSince1970)
            let buckets = !served ? [] : try await store.read { db in
                try self.buckets(
                    db, account: account, region: region, namespace: metric["Namespace"]?.string ?? "", name: metric["MetricName"]?.string ?? "",
                    dimensions: dims, start: start, end: end, period: period)
            }
            var series: MetricMath.Series = [:]
            for b in buckets { series[b.start] = b.aggregate.value(statistic) }
            stats.append((q["Id"]?.string ?? "", series))
        }
        // Then expressions, each evaluated once, in whatever order they reference each other.
        let expressions = Dictionary(uniqueKeysWithValues: queries.compactMap { q in q["Expression"]?.string.map { (q["Id"]?.string ?? "", $0) } })
        let period = queries.compactMap { $0["Period"]?.int }.map { Double($0) * periodScale }.min() ?? periods.min() ?? 60 * periodScale
        let grid = Array(stride(from: start, to: end, by: period))
        var values: [String: MetricMath.Value] = [:]
        for (id, series) in stats { values[id] = .series(series) }
        var evaluating = Set<String>()
        func resolve(_ id: String) throws(MetricMath.Failure) -> MetricMath.Value {
            if let v = values[id] { return v }
            guard let text = expressions[id] else { throw MetricMath.Failure(message: "Unknown query id \(id).") }
            guard evaluating.insert(id).inserted else { throw MetricMath.Failure(message: "Circular reference to \(id).") }
            let value = try MetricMath.evaluate(try MetricMath.parse(text), resolve: resolve, metrics: stats, grid: grid)
            values[id] = value
            return value
        }
        var out: [QueryResult] = []
        for q in queries {
            let id = q["Id"]?.string ?? ""
            let value: MetricMath.Value
            do { value = try resolve(id) } catch { throw AWSError.cwValidation("Error in expression \(id): \(error.message)") }
            var series: MetricMath.Series
            switch value {
            case .series(let s): series = s
            case .scalar(let v): series = Dictionary(uniqueKeysWithValues: grid.map { ($0, v) })
            case .array(let a):
                guard a.count <= 1 else {
                    throw AWSError.cwValidation("Error in expression \(id): it returns \(a.count) time series; only one can be returned here.")
                }
                series = a.first ?? [:]
            }
            let label = q["Label"]?.string ?? q["MetricStat"]?["Metric"]?["MetricName"]?.string ?? id
            out.append(QueryResult(
                id: id, label: label, points: series.filter { $0.value.isFinite }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                returnData: q["ReturnData"]?.bool ?? true))
        }
        return out
    }
}
