public import GRDB
import Synchronization

/// Group commit: many small writes share one transaction. A write that arrives while a
/// transaction is running waits for the next one, which runs every waiting body in order, each
/// in its own savepoint (one body's error rolls back only its own changes). Each caller is
/// answered only after the transaction that holds its changes has committed, so nothing is
/// acknowledged before it is stored; under load the per-transaction cost is paid once per batch.
public final class GroupCommit: Sendable {
    struct Pending: Sendable {
        let run: @Sendable (Database) -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    let store: Store
    private let state = Mutex<(pending: [Pending], draining: Bool)>(([], false))

    public init(store: Store) { self.store = store }

    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            let pending = Pending(
                run: { db in
                    do {
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        result.withLock { $0 = .success(value!) }
                    } catch {
                        result.withLock { $0 = .failure(error) }
                    }
                },
                finish: { error in if let error { done.resume(throwing: error) } else { done.resume() } })
            let start = state.withLock { s -> Bool in
                s.pending.append(pending)
                if s.draining { return false }
                s.draining = true
                return true
            }
            if start { Task { await self.drain() } }
        }
        return try result.withLock { $0! }.get()
    }

    /// Runs batches until none is waiting.
    private func drain() async {
        while true {
            let batch = state.withLock { s -> [Pending] in
                let batch = s.pending
                s.pending = []
                if batch.isEmpty { s.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await store.write { db in for p in batch { p.run(db) } }
                for p in batch { p.finish(nil) }
            } catch {
                // The transaction itself failed (disk full, ...): nobody's changes were kept.
                for p in batch { p.finish(error) }
            }
        }
    }
}
