import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CloudWatch metrics and alarms in the store.
struct CloudWatch: Sendable {
    let store: Store
    let clock: KumoClock
    let handlers: ActionHandlers

    var actions: [any AlarmActionHandler] { handlers.all }

    /// `Name=Value` lines sorted by name: the series key of a metric's dimensions.
    static func dimensionKey(_ dims: [ShapeValue]) -> String {
        dims.map { ($0["Name"]?.string ?? "", $0["Value"]?.string ?? "") }.sorted { $0.0 < $1.0 }.map { $0.0 + "=" + $0.1 }
            .joined(separator: "\n")
    }

    static func dimensionShapes(_ key: String) -> [ShapeValue] {
        key.split(separator: "\n").map { line in
            let parts = line.split(separator: "=", maxSplits: 1)
            return ["Name": .string(String(parts[0])), "Value": .string(parts.count > 1 ? String(parts[1]) : "")]
        }
    }

    /// Aggregates of one period's datapoints.
    struct Aggregate {
        var sampleCount = 0.0, sum = 0.0, minimum = Double.infinity, maximum = -Double.infinity
        var means: [Double] = []
        var unit: String?

        mutating func add(_ d: DatapointRecord) {
            sampleCount += d.sampleCount
            sum += d.sum
            minimum = min(minimum, d.minimum)
            maximum = max(maximum, d.maximum)
            if d.sampleCount > 0 { means.append(d.sum / d.sampleCount) }
            unit = unit ?? d.unit
        }

        /// `Average`, `Sum`, `SampleCount`, `Minimum`, `Maximum`, `pNN`.
        func value(_ statistic: String) -> Double? {
            switch statistic {
            case "Average": return sampleCount > 0 ? sum / sampleCount : nil
            case "Sum": return sum
            case "SampleCount": return sampleCount
            case "Minimum": return minimum.isFinite ? minimum : nil
            case "Maximum": return maximum.isFinite ? maximum : nil
            default:
                guard statistic.hasPrefix("p"), let p = Double(statistic.dropFirst()), !means.isEmpty else { return nil }
                let sorted = means.sorted()
                let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
                return sorted[max(0, min(sorted.count - 1, rank))]
            }
        }
    }

    /// Datapoints of one series between two times, grouped into periods starting at `start`.
    func buckets(
        _ db: Database, account: String, region: String, namespace: String, name: String, dimensions: String, start: Double, end: Double, period: Double
    ) throws -> [(start: Double, aggregate: Aggregate)] {
        let rows = try DatapointRecord.filter(
            Column("accountId") == account && Column("region") == region && Column("namespace") == namespace && Column("name") == name
                && Column("dimensions") == dimensions && Column("timestamp") >= start && Column("timestamp") < end
        ).fetchAll(db)
        var out: [Int: Aggregate] = [:]
        for r in rows {
            let index = Int((r.timestamp - start) / period)
            out[index, default: Aggregate()].add(r)
        }
        return out.sorted { $0.key < $1.key }.map { (start + Double($0.key) * period, $0.value) }
    }
}

/// The services that carry out alarm actions, added once every service exists.
final class ActionHandlers: Sendable {
    private let list = Mutex<[any AlarmActionHandler]>([])
    func add(_ h: any AlarmActionHandler) { list.withLock { $0.append(h) } }
    var all: [any AlarmActionHandler] { list.withLock { $0 } }
}

extension CloudWatch {
    static var invalidToken: AWSError { .cwInvalidParameter("The value for parameter NextToken is invalid.") }
}

extension AWSError {
    static func cwInvalidParameter(_ message: String) -> AWSError { AWSError(code: "InvalidParameterValue", message: message) }
    static func cwMissingParameter(_ message: String) -> AWSError { AWSError(code: "MissingParameter", message: message) }
    static func cwValidation(_ message: String) -> AWSError { AWSError(code: "ValidationError", message: message) }
}
