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

    /// A target of a group: its id and port.
    struct Target: Hashable {
        var id: String
        var port: Int
    }

    /// One target group's targets and its round-robin cursor: a proxied request looks its
    /// group up once (the key is a long ARN) and its targets by their short ids.
    private struct Group {
        var targets: [Target: Entry] = [:]
        /// The healthy targets with their addresses, in a fixed order: worked out again when an
        /// entry's health changes (`settle`), read by every request.
        private(set) var healthy: [(id: String, port: Int, address: String)] = []
        var cursor = 0

        mutating func settle() {
            healthy = targets.compactMap { t, e in e.state == "healthy" ? e.address.map { (t.id, t.port, $0) } : nil }
                .sorted { ($0.id, $0.port) < ($1.id, $1.port) }
        }
    }

    private let groups = Mutex<[String: Group]>([:])

    func registered(group: String, id: String, port: Int) {
        groups.withLock { g in
            let t = Target(id: id, port: port)
            if g[group]?.targets[t] == nil || g[group]?.targets[t]?.state == "draining" {
                g[group, default: Group()].targets[t] = Entry()
                g[group]!.settle()
            }
        }
    }

    func draining(group: String, id: String, port: Int, for delay: Duration) {
        groups.withLock { g in
            let t = Target(id: id, port: port)
            var entry = g[group]?.targets[t] ?? Entry()
            entry.state = "draining"
            entry.reason = "Target.DeregistrationInProgress"
            entry.description = "Target deregistration is in progress"
            entry.drainingUntil = .now + delay
            g[group, default: Group()].targets[t] = entry
            g[group]!.settle()
        }
    }

    /// Draining targets of a group that are still within their deregistration delay.
    func drainingTargets(group: String) -> [(String, Int)] {
        let now = ContinuousClock.now
        return groups.withLock { g in
            for name in g.keys {
                g[name]!.targets = g[name]!.targets.filter { $0.value.drainingUntil.map { $0 > now } ?? true }
                g[name]!.settle()
            }
            return (g[group]?.targets ?? [:]).filter { $0.value.state == "draining" }.map { t, _ in (t.id, t.port) }
        }
    }

    func entry(group: String, id: String, port: Int) -> Entry? { groups.withLock { $0[group]?.targets[Target(id: id, port: port)] } }

    func update(group: String, id: String, port: Int, _ change: (inout Entry) -> Void) {
        groups.withLock { g in
            let t = Target(id: id, port: port)
            guard var entry = g[group]?.targets[t], entry.state != "draining" else { return }
            let before = (entry.state, entry.address)
            change(&entry)
            g[group]!.targets[t] = entry
            if (entry.state, entry.address) != before { g[group]!.settle() }
        }
    }

    func describe(group: String, id: String, port: Int, inUse: Bool) -> (state: String, reason: String?, description: String?) {
        let entry = self.entry(group: group, id: id, port: port) ?? Entry()
        if entry.state == "draining" { return (entry.state, entry.reason, entry.description) }
        if !inUse { return ("unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer") }
        return (entry.state, entry.reason, entry.description)
    }

    /// The next healthy target of a group, by round robin or fewest outstanding requests.
    /// A healthy target for the next request (and how many are healthy): round robin or fewest outstanding requests. With
    /// `slowStart`, a target that became healthy less than that long ago takes a share of
    /// requests rising linearly from none to a full one (unless no other target is settled).
    func pick(
        group: String, targets: [(id: String, port: Int)], leastOutstanding: Bool, slowStart: Duration? = nil,
        now: ContinuousClock.Instant = .now, draw: () -> Double = { Double.random(in: 0..<1) }
    ) -> (id: String, port: Int, address: String, healthy: Int)? {
        if !leastOutstanding && slowStart == nil {
            // Plain round robin over the healthy targets (a deregistered target is draining, never healthy).
            let (healthy, n) = groups.withLock { g -> ([(id: String, port: Int, address: String)], Int) in
                guard let i = g.index(forKey: group) else { return ([], 0) }
                return (g.values[i].healthy, g.values[i].cursor.advance())
            }
            guard !healthy.isEmpty else { return nil }
            let t = healthy[n % healthy.count]
            return (t.id, t.port, t.address, healthy.count)
        }
        var candidates: [(id: String, port: Int, address: String, outstanding: Int, since: ContinuousClock.Instant?)] = []
        candidates.reserveCapacity(targets.count)
        let n = groups.withLock { g -> Int in
            guard let i = g.index(forKey: group) else { return 0 }
            for t in targets {
                guard let j = g.values[i].targets.index(forKey: Target(id: t.id, port: t.port)) else { continue }
                let entry = g.values[i].targets.values[j]
                guard entry.state == "healthy", let address = entry.address else { continue }
                candidates.append((t.id, t.port, address, entry.outstanding, entry.healthySince))
            }
            return g.values[i].cursor.advance()
        }
        var healthy = candidates
        if let slowStart, slowStart > .zero {
            func ramp(_ since: ContinuousClock.Instant?) -> Double? {
                guard let since, now - since < slowStart else { return nil }
                return (now - since) / slowStart
            }
            if candidates.contains(where: { ramp($0.since) == nil }) {
                healthy = candidates.filter { c in ramp(c.since).map { draw() < $0 } ?? true }
            }
        }
        guard !healthy.isEmpty else { return nil }
        if leastOutstanding {
            let fewest = healthy.map(\.outstanding).min() ?? 0
            let best = healthy.filter { $0.outstanding == fewest }
            let t = best[n % best.count]
            return (t.id, t.port, t.address, candidates.count)
        }
        let t = healthy[n % healthy.count]
        return (t.id, t.port, t.address, candidates.count)
    }

    func began(group: String, id: String, port: Int) { addOutstanding(1, group: group, id: id, port: port) }
    func ended(group: String, id: String, port: Int) { addOutstanding(-1, group: group, id: id, port: port) }

    /// In place: these run twice per proxied request.
    private func addOutstanding(_ n: Int, group: String, id: String, port: Int) {
        let t = Target(id: id, port: port)
        groups.withLock { g in
            guard let i = g.index(forKey: group), let j = g.values[i].targets.index(forKey: t), g.values[i].targets.values[j].state != "draining" else { return }
            g.values[i].targets.values[j].outstanding += n
        }
    }

    func healthyCount(group: String) -> (healthy: Int, unhealthy: Int) {
        groups.withLock { g in
            var healthy = 0
            var unhealthy = 0
            guard let i = g.index(forKey: group) else { return (0, 0) }
            for entry in g.values[i].targets.values {
                if entry.state == "healthy" { healthy += 1 } else if entry.state == "unhealthy" { unhealthy += 1 }
            }
            return (healthy, unhealthy)
        }
    }
}

extension Int {
    /// The value, left one higher (wrapping): a round-robin cursor read and moved on in one dictionary access.
    fileprivate mutating func advance() -> Int {
        defer { self &+= 1 }
        return self
    }
}
