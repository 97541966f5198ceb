import Synchronization

/// What the load balancer knows of each target's health: the state DescribeTargetHealth
/// reports and the address the balancer sends traffic to. Health is runtime knowledge (as on
/// AWS, a target starts again from `initial` after a restart), so it lives in memory.
final class HealthBoard: Sendable {
    struct Entry: Sendable {
        var state = "initial"
        var reason: String? = "Elb.InitialHealthChecking"
        var description: String? = "Initial health checks in progress"
        var passes = 0
        var failures = 0
        var lastCheck: ContinuousClock.Instant?
        /// Where traffic goes (the instance's loopback address, or the target IP).
        var address: String?
        var drainingUntil: ContinuousClock.Instant?
        var outstanding = 0
        /// A check of this target is running (checks of one target never overlap).
        var checking = false
        /// When the target last became healthy (for slow start).
        var healthySince: ContinuousClock.Instant?
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let cursor = Mutex<[String: Int]>([:])

    static func key(_ group: String, _ id: String, _ port: Int) -> String { group + "|" + id + "|" + String(port) }

    func registered(group: String, id: String, port: Int) {
        entries.withLock { e in
            let k = Self.key(group, id, port)
            if e[k] == nil || e[k]?.state == "draining" { e[k] = Entry() }
        }
    }

    func draining(group: String, id: String, port: Int, for delay: Duration) {
        entries.withLock { e in
            let k = Self.key(group, id, port)
            var entry = e[k] ?? Entry()
            entry.state = "draining"
            entry.reason = "Target.DeregistrationInProgress"
            entry.description = "Target deregistration is in progress"
            entry.drainingUntil = .now + delay
            e[k] = entry
        }
    }

    /// Draining targets of a group that are still within their deregistration delay.
    func drainingTargets(group: String) -> [(String, Int)] {
        let now = ContinuousClock.now
        return entries.withLock { e in
            e = e.filter { $0.value.drainingUntil.map { $0 > now } ?? true }
            return e.filter { $0.key.hasPrefix(group + "|") && $0.value.state == "draining" }.compactMap { k, _ in
                let parts = k.split(separator: "|")
                return parts.count == 3 ? (String(parts[1]), Int(parts[2]) ?? 0) : nil
            }
        }
    }

    func entry(group: String, id: String, port: Int) -> Entry? { entries.withLock { $0[Self.key(group, id, port)] } }

    func update(group: String, id: String, port: Int, _ change: (inout Entry) -> Void) {
        entries.withLock { e in
            let k = Self.key(group, id, port)
            guard var entry = e[k], entry.state != "draining" else { return }
            change(&entry)
            e[k] = entry
        }
    }

    func describe(group: String, id: String, port: Int, inUse: Bool) -> (state: String, reason: String?, description: String?) {
        let entry = self.entry(group: group, id: id, port: port) ?? Entry()
        if entry.state == "draining" { return (entry.state, entry.reason, entry.description) }
        if !inUse { return ("unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer") }
        return (entry.state, entry.reason, entry.description)
    }

    /// The next healthy target of a group, by round robin or fewest outstanding requests.
    /// A healthy target for the next request: round robin or fewest outstanding requests. With
    /// `slowStart`, a target that became healthy less than that long ago takes a share of
    /// requests rising linearly from none to a full one (unless no other target is settled).
    func pick(
        group: String, targets: [(id: String, port: Int)], leastOutstanding: Bool, slowStart: Duration? = nil,
        now: ContinuousClock.Instant = .now, draw: () -> Double = { Double.random(in: 0..<1) }
    ) -> (id: String, port: Int, address: String)? {
        let candidates: [(id: String, port: Int, address: String, outstanding: Int, since: ContinuousClock.Instant?)] = entries.withLock { e in
            targets.compactMap { t in
                guard let entry = e[Self.key(group, t.id, t.port)], entry.state == "healthy", let address = entry.address else { return nil }
                return (t.id, t.port, address, entry.outstanding, entry.healthySince)
            }
        }
        var healthy = candidates.map { (id: $0.id, port: $0.port, address: $0.address, outstanding: $0.outstanding) }
        if let slowStart, slowStart > .zero {
            func ramp(_ since: ContinuousClock.Instant?) -> Double? {
                guard let since, now - since < slowStart else { return nil }
                return (now - since) / slowStart
            }
            if candidates.contains(where: { ramp($0.since) == nil }) {
                healthy = candidates.filter { c in ramp(c.since).map { draw() < $0 } ?? true }
                    .map { (id: $0.id, port: $0.port, address: $0.address, outstanding: $0.outstanding) }
            }
        }
        guard !healthy.isEmpty else { return nil }
        let n = cursor.withLock { c -> Int in
            let n = c[group, default: 0]
            c[group] = n &+ 1
            return n
        }
        if leastOutstanding {
            let fewest = healthy.map(\.outstanding).min() ?? 0
            let best = healthy.filter { $0.outstanding == fewest }
            let t = best[n % best.count]
            return (t.id, t.port, t.address)
        }
        let t = healthy[n % healthy.count]
        return (t.id, t.port, t.address)
    }

    func began(group: String, id: String, port: Int) { addOutstanding(1, group: group, id: id, port: port) }
    func ended(group: String, id: String, port: Int) { addOutstanding(-1, group: group, id: id, port: port) }

    /// In place: these run twice per proxied request.
    private func addOutstanding(_ n: Int, group: String, id: String, port: Int) {
        let k = Self.key(group, id, port)
        entries.withLock { e in
            if let state = e[k]?.state, state != "draining" { e[k]!.outstanding += n }
        }
    }

    func healthyCount(group: String) -> (healthy: Int, unhealthy: Int) {
        let prefix = group + "|"
        return entries.withLock { e in
            var healthy = 0
            var unhealthy = 0
            for (key, entry) in e where key.hasPrefix(prefix) {
                if entry.state == "healthy" { healthy += 1 } else if entry.state == "unhealthy" { unhealthy += 1 }
            }
            return (healthy, unhealthy)
        }
    }
}
