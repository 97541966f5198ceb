public import GRDB
import Synchronization

/// Rows this process owns, kept in memory by key. Every write that may change them calls
/// `invalidate()` after its commit: that drops every value and bumps the generation, and a
/// value read from the store before the bump is never kept, so a reader never sees a row older
/// than the last committed write.
public final class KeyedCache<Value: Sendable>: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var values: [String: Value] = [:]
    }

    private let state = Mutex(State())
    private let limit: Int

    public init(limit: Int = 10_000) { self.limit = limit }

    public func invalidate() {
        state.withLock { s in
            s.generation &+= 1
            s.values.removeAll(keepingCapacity: true)
        }
    }

    /// The value for `key`, read with `load` when not cached (nil results are not kept).
    public func value(_ key: String, store: Store, load: @escaping @Sendable (Database) throws -> Value?) async throws -> Value? {
        let (hit, generation) = state.withLock { ($0.values[key], $0.generation) }
        if let hit { return hit }
        let fresh = try await store.read(load)
        if let fresh {
            state.withLock { s in if s.generation == generation, s.values.count < limit { s.values[key] = fresh } }
        }
        return fresh
    }

    /// Runs a write that may change cached rows, and drops the cache once it has committed (or failed).
    public func write<T: Sendable>(_ store: Store, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        defer { invalidate() }
        return try await store.write(body)
    }
}
