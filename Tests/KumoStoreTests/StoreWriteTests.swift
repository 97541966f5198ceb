import GRDB
import KumoStore
import Synchronization
import Testing
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `Store.writeNowIfIdle` runs a write on the calling thread only when no other write is queued
/// or running (waiting briefly for another thread's short one), and `afterCommit` only after a
/// commit, once the writer is free.
@Suite struct StoreWriteTests {
    func store() throws -> Store {
        let dir = FileManager.default.temporaryDirectory.path + "/kumo-storewrite-" + UUID().uuidString
        return try Store(directory: dir, migrations: [StoreMigration("t.v1") { db in
            try db.create(table: "t") { t in t.column("n", .integer).notNull().unique() }
        }])
    }

    @Test func anIdleWriterRunsTheWriteOnTheCallingThread() throws {
        let store = try store()
        let caller = pthread_self()
        let after = Mutex<[Int]>([])
        let ranHere = try store.writeNowIfIdle({ db -> Bool in
            try db.execute(sql: "INSERT INTO t (n) VALUES (1)")
            return pthread_equal(pthread_self(), caller) != 0
        }, afterCommit: { _ in after.withLock { $0.append(1) } })
        #expect(ranHere == true)
        #expect(after.withLock { $0 } == [1])
        #expect(try store.readNow { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 1)
    }

    @Test func aBusyWriterDeclinesAndNothingRuns() async throws {
        let store = try store()
        let started = Mutex(false), release = Mutex(false)
        let slow = Task {
            try await store.write { db in
                started.withLock { $0 = true }
                while !release.withLock({ $0 }) { usleep(1_000) }
                try db.execute(sql: "INSERT INTO t (n) VALUES (1)")
            }
        }
        while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
        let result = try store.writeNowIfIdle({ db -> Int in
            try db.execute(sql: "INSERT INTO t (n) VALUES (2)")
            return 2
        }, afterCommit: { _ in Issue.record("nothing was written, so nothing runs after") })
        #expect(result == nil)
        release.withLock { $0 = true }
        try await slow.value
        #expect(try store.readNow { db in try Int.fetchAll(db, sql: "SELECT n FROM t") } == [1])
    }

    @Test func aFailedWriteRollsBackAndSkipsAfterCommit() throws {
        let store = try store()
        struct Failure: Error {}
        #expect(throws: Failure.self) {
            _ = try store.writeNowIfIdle({ db -> Int in
                try db.execute(sql: "INSERT INTO t (n) VALUES (3)")
                throw Failure()
            }, afterCommit: { _ in Issue.record("rolled back, so nothing runs after") })
        }
        #expect(try store.readNow { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 0)
    }

    @Test func afterCommitRunsOnceTheWriterIsFree() throws {
        let store = try store()
        let nested = Mutex<Int?>(nil)
        _ = try store.writeNowIfIdle({ db in try db.execute(sql: "INSERT INTO t (n) VALUES (1)") }, afterCommit: { _ in
            let n = try? store.writeNowIfIdle({ db -> Int in
                try db.execute(sql: "INSERT INTO t (n) VALUES (2)")
                return 2
            }, afterCommit: { _ in })
            nested.withLock { $0 = n ?? nil }
        })
        #expect(nested.withLock { $0 } == 2)
    }

    /// Another thread's write on the calling thread is waited for, up to the limit; a write that
    /// took the trip to the writer's queue is not.
    @Test func anotherThreadsWriteIsWaitedForUpToTheLimit() async throws {
        let store = try store()
        func attempt(holding time: Duration, limit: Duration, queued: Bool = false) async throws -> Bool {
            let started = Mutex(false)
            let hold: @Sendable (Database) throws -> Void = { _ in
                started.withLock { $0 = true }
                let end = ContinuousClock.now + time
                while ContinuousClock.now < end {}
            }
            let holder = Task.detached {
                if queued { try? await store.write(hold) } else { _ = try? store.writeNowIfIdle(hold, afterCommit: { _ in }) }
            }
            while !started.withLock({ $0 }) { sched_yield() }
            let began = ContinuousClock.now
            let ran = try store.writeNowIfIdle({ _ in }, afterCommit: { _ in }, waitingUpTo: limit) != nil
            if !ran { #expect(ContinuousClock.now - began < time) }
            await holder.value
            return ran
        }
        #expect(try await attempt(holding: .milliseconds(30), limit: .seconds(5)))
        #expect(try await attempt(holding: .milliseconds(300), limit: .milliseconds(10)) == false)
        #expect(try await attempt(holding: .milliseconds(300), limit: .seconds(5), queued: true) == false)
    }
}
