import GRDB
import KumoStore
import Synchronization

/// The public zones and their records, kept in memory for the DNS server. Only this process
/// writes them: every write drops the snapshot after its commit and bumps the generation, and
/// a snapshot read from the store before a write is never kept — so a change is answered as
/// soon as ChangeResourceRecordSets returns.
final class ZoneCache: Sendable {
    struct Snapshot: Sendable {
        /// Public zone name → (id, name); the first created wins when names repeat.
        var zones: [String: (id: String, name: String)] = [:]
        /// VPC id → private zone name → (id, name): the zones answered to that VPC's instances.
        var privateZones: [String: [String: (id: String, name: String)]] = [:]
        /// `zoneId|name` → record sets.
        var records: [String: [RecordSetRecord]] = [:]
        /// `zoneId|name` for every name that has records below it (empty non-terminals answer NODATA).
        var ancestors: Set<String> = []
    }

    private struct State {
        var generation: UInt64 = 0
        var snapshot: Snapshot?
    }

    private let state = Mutex(State())

    func invalidate() {
        state.withLock { s in
            s.generation &+= 1
            s.snapshot = nil
        }
    }

    /// The snapshot when it is in memory, with the generation it belongs to.
    var cached: (snapshot: Snapshot, generation: UInt64)? {
        state.withLock { s in s.snapshot.map { ($0, s.generation) } }
    }

    /// Bumped by every write: answers given from an older generation may be stale.
    var generation: UInt64 { state.withLock { $0.generation } }

    func snapshot(_ store: Store) async throws -> Snapshot {
        let (cached, generation) = state.withLock { ($0.snapshot, $0.generation) }
        if let cached { return cached }
        let fresh = try await store.read { db -> Snapshot in
            var snap = Snapshot()
            var zoneNames: [String: String] = [:]
            for z in try ZoneRecord.order(Column("created")).fetchAll(db) {
                zoneNames[z.id] = z.name
                if !z.isPrivate && snap.zones[z.name] == nil { snap.zones[z.name] = (z.id, z.name) }
            }
            for a in try ZoneVPCRecord.fetchAll(db) {
                guard let name = zoneNames[a.zoneId], snap.privateZones[a.vpcId]?[name] == nil else { continue }
                snap.privateZones[a.vpcId, default: [:]][name] = (a.zoneId, name)
            }
            for r in try RecordSetRecord.fetchAll(db) {
                guard let zoneName = zoneNames[r.zoneId] else { continue }
                snap.records[r.zoneId + "|" + r.name, default: []].append(r)
                var name = Substring(r.name)
                while name.count > zoneName.count, let dot = name.firstIndex(of: ".") {
                    name = name[name.index(after: dot)...]
                    snap.ancestors.insert(r.zoneId + "|" + name)
                }
            }
            return snap
        }
        state.withLock { s in if s.generation == generation { s.snapshot = fresh } }
        return fresh
    }
}
