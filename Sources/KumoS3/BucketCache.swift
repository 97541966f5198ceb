import Synchronization

/// Bucket settings (the record, its policy and public access block) are read on every
/// request; they are kept here. Only this process writes them: each write drops the entry
/// and bumps the generation after its commit, and a read that began before a write never
/// stores what it saw — so a client always reads its own writes.
final class BucketCache: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var entries: [String: (BucketRecord, BucketAccess)] = [:]
    }

    private let state = Mutex(State())
    static let limit = 10_000

    var generation: UInt64 { state.withLock { $0.generation } }

    func get(_ name: String) -> (BucketRecord, BucketAccess)? { state.withLock { $0.entries[name] } }

    func store(_ name: String, _ value: (BucketRecord, BucketAccess), readAt generation: UInt64) {
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.entries.count >= Self.limit { s.entries.removeAll(keepingCapacity: true) }
            s.entries[name] = value
        }
    }

    func invalidate(_ name: String?) {
        state.withLock { s in
            s.generation &+= 1
            if let name { s.entries[name] = nil } else { s.entries.removeAll() }
        }
    }
}
