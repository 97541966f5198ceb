import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension CloudWatch {
    static let statistics: Set = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]

    func putMetricData(_ call: OperationCall) async throws -> ShapeValue {
        let namespace = call.input["Namespace"]?.string ?? ""
        if namespace.hasPrefix("AWS/") {
            throw AWSError.cwInvalidParameter("The value AWS/ for parameter Namespace is invalid.")
        }
        let now = clock.now.timeIntervalSince1970
        let account = call.context.accountId, region = call.context.region
        var rows: [DatapointRecord] = []
        for (i, d) in (call.input["MetricData"]?.list ?? []).enumerated() {
            let member = "MetricData.member.\(i + 1)"
            let ts = d["Timestamp"]?.date?.timeIntervalSince1970 ?? now
            if ts > now + 7200 {
                throw AWSError.cwInvalidParameter("The parameter \(member).Timestamp must specify a time no more than two hours in the future.")
            }
            if ts < now - 14 * 86400 {
                throw AWSError.cwInvalidParameter("The parameter \(member).Timestamp must specify a time within the past two weeks.")
            }
            let dims = d["Dimensions"]?.list ?? []
            if dims.count > 30 { throw AWSError.cwInvalidParameter("The collection \(member).Dimensions must not have a size greater than 30.") }
            var record = DatapointRecord(
                accountId: account, region: region, namespace: namespace, name: d["MetricName"]?.string ?? "",
                dimensions: Self.dimensionKey(dims), timestamp: Retention.storedTimestamp(ts, now: now), sampleCount: 0, sum: 0, minimum: 0, maximum: 0, unit: d["Unit"]?.string)
            if let set = d["StatisticValues"] {
                guard d["Value"] == nil else {
                    throw AWSError(code: "InvalidParameterCombination", message: "The parameters \(member).Value and \(member).StatisticValues are mutually exclusive and you have specified both.")
                }
                record.sampleCount = set["SampleCount"]?.double ?? 0
                record.sum = set["Sum"]?.double ?? 0
                record.minimum = set["Minimum"]?.double ?? 0
                record.maximum = set["Maximum"]?.double ?? 0
            } else if let values = d["Values"]?.list?.compactMap(\.double), !values.isEmpty {
                let counts = d["Counts"]?.list?.compactMap(\.double) ?? Array(repeating: 1, count: values.count)
                guard counts.count == values.count else {
                    throw AWSError.cwInvalidParameter("The parameters \(member).Values and \(member).Counts must be of the same size.")
                }
                record.sampleCount = counts.reduce(0, +)
                record.sum = zip(values, counts).reduce(0) { $0 + $1.0 * $1.1 }
                record.minimum = values.min() ?? 0
                record.maximum = values.max() ?? 0
            } else if let value = d["Value"]?.double {
                guard value.isFinite else { throw AWSError.cwInvalidParameter("The value \(value) for parameter \(member).Value is invalid.") }
                (record.sampleCount, record.sum, record.minimum, record.maximum) = (1, value, value, value)
            } else {
                throw AWSError(code: "MissingParameter", message: "The parameter \(member).Value is required.")
            }
            rows.append(record)
        }
        let toStore = rows
        try await store.write { db in for r in toStore { try r.insert(db) } }
        return .empty
    }

    func getMetricStatistics(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        guard let start = input["StartTime"]?.date?.timeIntervalSince1970, let end = input["EndTime"]?.date?.timeIntervalSince1970 else {
            throw AWSError.cwMissingParameter("The parameters StartTime and EndTime are required.")
        }
        guard start < end else { throw AWSError.cwInvalidParameter("The parameter StartTime must be less than the parameter EndTime.") }
        let period = Double(input["Period"]?.int ?? 60)
        guard period >= 1, period < 60 || period.truncatingRemainder(dividingBy: 60) == 0 else {
            throw AWSError.cwInvalidParameter("The parameter Period must be a multiple of 60.")
        }
        let statistics = (input["Statistics"]?.list ?? []).compactMap(\.string)
        let extended = (input["ExtendedStatistics"]?.list ?? []).compactMap(\.string)
        guard statistics.isEmpty != extended.isEmpty || (!statistics.isEmpty && !extended.isEmpty) else {
            throw AWSError(code: "InvalidParameterCombination", message: "Must specify either Statistics or ExtendedStatistics, but not both.")
        }
        let count = Int(((end - start) / period).rounded(.up))
        if count > 1440 {
            throw AWSError(
                code: "InvalidParameterCombination",
                message: "You have requested up to \(count) datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.")
        }
        let account = call.context.accountId, region = call.context.region
        let dims = Self.dimensionKey(input["Dimensions"]?.list ?? [])
        // As on AWS, a period finer than what is kept at the start time's age returns no datapoints.
        guard Retention.servesPeriod(period, from: start, now: clock.now.timeIntervalSince1970) else {
            return ["Label": .string(input["MetricName"]?.string ?? ""), "Datapoints": []]
        }
        let buckets = try await store.read { db in
            try self.buckets(
                db, account: account, region: region, namespace: input["Namespace"]?.string ?? "", name: input["MetricName"]?.string ?? "",
                dimensions: dims, start: start, end: end, period: period)
        }
        let points: [ShapeValue] = buckets.map { b in
            var p: [String: ShapeValue] = ["Timestamp": .timestamp(Date(timeIntervalSince1970: b.start)), "Unit": .string(b.aggregate.unit ?? "None")]
            for s in statistics { if let v = b.aggregate.value(s) { p[s] = .double(v) } }
            if !extended.isEmpty {
                var map: [String: ShapeValue] = [:]
                for s in extended { if let v = b.aggregate.value(s) { map[s] = .double(v) } }
                p["ExtendedStatistics"] = .map(map)
            }
            return .structure(p)
        }
        return ["Label": .string(input["MetricName"]?.string ?? ""), "Datapoints": .list(points)]
    }

    func listMetrics(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let account = call.context.accountId, region = call.context.region
        let since = input["RecentlyActive"]?.string == "PT3H" ? clock.now.timeIntervalSince1970 - 3 * 3600 : 0
        let rows = try await store.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT DISTINCT namespace, name, dimensions FROM cw_datapoints WHERE accountId = ? AND region = ? AND timestamp >= ? ORDER BY namespace, name, dimensions",
                arguments: [account, region, since]
            ).map { r -> (String, String, String) in (r["namespace"], r["name"], r["dimensions"]) }
        }
        let wantedDims = (input["Dimensions"]?.list ?? []).map { ($0["Name"]?.string ?? "", $0["Value"]?.string) }
        var metrics: [ShapeValue] = []
        for (namespace, name, dims) in rows {
            if let ns = input["Namespace"]?.string, ns != namespace { continue }
            if let n = input["MetricName"]?.string, n != name { continue }
            let pairs = dims.split(separator: "\n").map { line -> (String, String) in
                let p = line.split(separator: "=", maxSplits: 1)
                return (String(p[0]), p.count > 1 ? String(p[1]) : "")
            }
            guard wantedDims.allSatisfy({ w in pairs.contains { $0.0 == w.0 && (w.1 == nil || $0.1 == w.1) } }) else { continue }
            metrics.append(["Namespace": .string(namespace), "MetricName": .string(name), "Dimensions": .list(Self.dimensionShapes(dims))])
        }
        let page = try PageToken.page(metrics, after: input["NextToken"]?.string, limit: 500, invalid: Self.invalidToken)
        var out: [String: ShapeValue] = ["Metrics": .list(page.items)]
        if let next = page.next { out["NextToken"] = .string(next) }
        return .structure(out)
    }

    /// GetMetricData with MetricStat queries (metric math is not served yet).
    func getMetricData(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        guard let start = input["StartTime"]?.date?.timeIntervalSince1970, let end = input["EndTime"]?.date?.timeIntervalSince1970, start < end else {
            throw AWSError.cwInvalidParameter("The parameter StartTime must be less than the parameter EndTime.")
        }
        let account = call.context.accountId, region = call.context.region
        let ascending = input["ScanBy"]?.string == "TimestampAscending"
        let queries = input["MetricDataQueries"]?.list ?? []
        var results: [ShapeValue] = []
        for r in try await runQueries(queries, account: account, region: region, start: start, end: end) where r.returnData {
            let points = ascending ? r.points : r.points.reversed()
            results.append([
                "Id": .string(r.id), "Label": .string(r.label), "StatusCode": "Complete",
                "Timestamps": .list(points.map { .timestamp(Date(timeIntervalSince1970: $0.time)) }), "Values": .list(points.map { .double($0.value) }),
            ])
        }
        return ["MetricDataResults": .list(results), "Messages": []]
    }
}
