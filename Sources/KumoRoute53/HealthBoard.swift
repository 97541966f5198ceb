import KumoCore
import KumoProtocols
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Every health check's configuration and current status, in memory for the checker and
/// the DNS answers. Configurations are written through from the API (the store keeps them);
/// statuses live only here and start healthy, as a new Route 53 health check does.
final class HealthBoard: Sendable {
    struct Check: Sendable {
        var id: String
        var accountId: String
        var config: ShapeValue
    }

    struct Status: Sendable {
        var healthy = true
        /// Consecutive results that disagree with the current status.
        var streak = 0
        var report: (text: String, time: Date)?
        var lastFailure: (text: String, time: Date)?
        var lastCheck: ContinuousClock.Instant?
        var checking = false
    }

    private let state = Mutex<(checks: [String: Check], statuses: [String: Status])>(([:], [:]))

    func put(_ check: Check) {
        state.withLock { s in
            s.checks[check.id] = check
            if s.statuses[check.id] == nil { s.statuses[check.id] = Status() }
        }
    }

    func remove(_ id: String) {
        state.withLock { s in
            s.checks[id] = nil
            s.statuses[id] = nil
        }
    }

    func clear() { state.withLock { $0 = ([:], [:]) } }

    var checks: [Check] { state.withLock { Array($0.checks.values) } }

    func status(_ id: String) -> Status? { state.withLock { $0.statuses[id] } }

    /// Whether a check passes: nil for an id that is not a health check.
    func isHealthy(_ id: String) -> Bool? {
        state.withLock { s in
            guard let check = s.checks[id] else { return nil }
            if check.config["Disabled"]?.bool == true { return !(check.config["Inverted"]?.bool ?? false) }
            return s.statuses[id]?.healthy
        }
    }

    func update(_ id: String, _ change: (inout Status) -> Void) {
        state.withLock { s in
            guard var status = s.statuses[id] else { return }
            change(&status)
            s.statuses[id] = status
        }
    }

    /// Counts one probe result against the failure threshold: the status turns after that
    /// many results in a row that disagree with it.
    func record(_ id: String, passed: Bool, text: String, at time: Date) {
        state.withLock { s in
            guard let check = s.checks[id], var status = s.statuses[id] else { return }
            let inverted = check.config["Inverted"]?.bool ?? false
            let ok = passed != inverted
            let threshold = max(1, check.config["FailureThreshold"]?.int ?? 3)
            status.report = (text, time)
            if !passed { status.lastFailure = (text, time) }
            if ok == status.healthy {
                status.streak = 0
            } else {
                status.streak += 1
                if status.streak >= threshold {
                    status.healthy = ok
                    status.streak = 0
                }
            }
            s.statuses[id] = status
        }
    }

    /// A calculated check: healthy while at least `HealthThreshold` children are.
    func evaluateCalculated(_ check: Check, at time: Date) {
        let children = (check.config["ChildHealthChecks"]?.list ?? []).compactMap(\.string)
        let healthyChildren = children.filter { isHealthy($0) ?? false }.count
        let threshold = check.config["HealthThreshold"]?.int ?? children.count
        let passed = healthyChildren >= threshold
        let inverted = check.config["Inverted"]?.bool ?? false
        state.withLock { s in
            guard var status = s.statuses[check.id] else { return }
            status.healthy = passed != inverted
            status.report = ("\(passed ? "Success" : "Failure"): \(healthyChildren) of \(children.count) child health checks are healthy", time)
            if !passed { status.lastFailure = status.report }
            s.statuses[check.id] = status
        }
    }
}
