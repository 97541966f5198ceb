import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import Synchronization

/// Every distribution's plan, by id and by alternate domain name, read from the store at
/// start and again after each control-plane write, so the edge never reads the database.
final class DistributionSnapshot: Sendable {
    private struct State {
        var byId: [String: DistributionPlan] = [:]
        var byAlias: [String: String] = [:]
        var generation = 0
    }

    private let state = Mutex(State())
    let store: Store
    let hostSuffix: String

    init(store: Store, hostSuffix: String) {
        self.store = store
        self.hostSuffix = hostSuffix
    }

    func plan(_ id: String) -> DistributionPlan? { state.withLock { $0.byId[id] } }

    /// The distribution an alternate domain name belongs to (enabled distributions only).
    func distribution(alias host: String) -> String? { state.withLock { $0.byAlias[host] } }

    /// Marks the snapshot out of date; `reload` brings it back.
    func invalidate() { state.withLock { $0.generation += 1 } }

    func reload() async throws {
        let generation = state.withLock { $0.generation }
        let suffix = hostSuffix
        let (plans, aliases) = try await store.read { db -> ([String: DistributionPlan], [String: String]) in
            var custom: [String: ShapeValue] = [:]
            for r in try ConfigRecord.fetchAll(db) { custom[r.kind + "/" + r.id] = ShapeValue(storageText: r.config) }
            func policy(_ kind: String, _ id: String) -> ShapeValue? {
                if let v = custom[kind + "/" + id] { return v }
                let managed = kind == "cache-policy" ? ManagedPolicies.cache
                    : kind == "origin-request-policy" ? ManagedPolicies.originRequest : ManagedPolicies.responseHeaders
                return managed.first { $0.id == id }?.config
            }
            var plans: [String: DistributionPlan] = [:]
            var aliases: [String: String] = [:]
            for d in try DistributionRecord.fetchAll(db) {
                let plan = DistributionPlan(
                    id: d.id, arn: "arn:aws:cloudfront::\(d.accountId):distribution/\(d.id)", config: ShapeValue(storageText: d.config),
                    hostSuffix: suffix, policies: policy)
                plans[d.id] = plan
                if plan.enabled { for a in plan.aliases { aliases[a] = d.id } }
            }
            return (plans, aliases)
        }
        state.withLock { s in
            // A write that landed during the read gets its own reload.
            guard s.generation == generation else { return }
            s.byId = plans
            s.byAlias = aliases
        }
    }
}
