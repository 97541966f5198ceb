public import GRDB
import Logging
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A forward-only schema change of one service, registered by name.
public struct StoreMigration: Sendable {
    public var name: String
    public var migrate: @Sendable (Database) throws -> Void

    public init(_ name: String, migrate: @escaping @Sendable (Database) throws -> Void) {
        self.name = name
        self.migrate = migrate
    }
}

/// Kumo's one embedded database (`kumo.sqlite` under the data dir) and the
/// folder for large bytes (`blobs/`).
///
/// Durability: SQLite in WAL mode with `synchronous=NORMAL`. A transaction is
/// in the WAL file (written with `write(2)`) before the request that made it
/// is answered, so it survives `kill -9` of kumo; an operating-system crash or
/// power loss can lose the last transactions. `durability: .full` fsyncs every
/// commit as well.
public final class Store: Sendable {
    public enum Durability: String, Sendable { case normal, full }

    public let database: DatabasePool
    public let directory: String
    /// Writes handed to the writer or running on it, not finished yet (see `writeNowIfIdle`).
    private let writesQueued = Atomic<Int>(0)
    /// Of those, the ones that took the trip to the writer's queue.
    private let tripsQueued = Atomic<Int>(0)
    public var blobDirectory: String { directory + "/blobs" }
    /// How long `writeNowIfIdle` waits for another thread's write by default.
    let spinLimit: Duration

    /// Opens (and creates) the store. A new database whose migrations are exactly those `baseline`
    /// was made from is created from the baseline's schema in one go instead of replaying them.
    public init(directory: String, migrations: [StoreMigration], baseline: StoreBaseline? = nil, durability: Durability = .normal) throws {
        self.directory = directory
        // A commit that fsyncs holds the writer for milliseconds: not worth spinning for.
        spinLimit = durability == .full ? .zero : Self.defaultSpinLimit
        try FileManager.default.createDirectory(atPath: directory + "/blobs", withIntermediateDirectories: true)
        var config = Configuration()
        config.busyMode = .timeout(10)
        let sync = durability == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
        }
        database = try DatabasePool(path: directory + "/kumo.sqlite", configuration: config)
        try Self.migrate(database, Self.withMeta(migrations), baseline: baseline)
    }

    /// Kumo's own table first, then the services'.
    static func withMeta(_ migrations: [StoreMigration]) -> [StoreMigration] {
        let meta = StoreMigration("kumo.v1") { db in
            try db.create(table: "kumo_meta", ifNotExists: true) { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        return [meta] + migrations
    }

    /// Runs the migrations not run yet, in order, all in one transaction, and records their names.
    /// As GRDB's migrator does, foreign keys are off while they run (a table rebuild must not cascade)
    /// and checked once at the end; one transaction and one check make a first start, which creates
    /// every table, several times faster. Data dirs from before kept the names in GRDB's table.
    static func migrate(_ database: some DatabaseWriter, _ migrations: [StoreMigration], baseline: StoreBaseline? = nil) throws {
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
            try db.inTransaction {
                try db.execute(sql: "CREATE TABLE IF NOT EXISTS kumo_migrations (name TEXT PRIMARY KEY NOT NULL)")
                var done = Set(try String.fetchAll(db, sql: "SELECT name FROM kumo_migrations"))
                if try db.tableExists("grdb_migrations") {
                    done.formUnion(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
                }
                var pending = migrations.filter { !done.contains($0.name) }
                if done.isEmpty, let baseline, baseline.names == migrations.map(\.name) {
                    for statement in baseline.statements { try db.execute(sql: statement) }
                    for name in baseline.names {
                        try db.execute(sql: "INSERT INTO kumo_migrations (name) VALUES (?)", arguments: [name])
                    }
                    pending = []
                }
                for m in pending {
                    try m.migrate(db)
                    try db.execute(sql: "INSERT INTO kumo_migrations (name) VALUES (?)", arguments: [m.name])
                }
                if !pending.isEmpty, let violation = try Row.fetchOne(db, sql: "PRAGMA foreign_key_check") {
                    throw DatabaseError(resultCode: .SQLITE_CONSTRAINT_FOREIGNKEY, message: "after migrations: \(violation)")
                }
                return .commit
            }
        }
    }

    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await database.read(body)
    }

    /// A read on the calling thread (blocks it until a reader connection is free and the body ran).
    public func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read(body)
    }

    public func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        tripTaken()
        defer { tripEnded() }
        return try await database.write(body)
    }

    /// Counts a write that takes the trip to the writer's queue, while it is queued or running.
    /// Trips first: a spinning `claimIdleWriter` that sees this write also sees it is a trip.
    /// (Inline, not an async wrapper: each nonisolated async call is one more hop through the loop.)
    private func tripTaken() {
        tripsQueued.add(1, ordering: .relaxed)
        writesQueued.add(1, ordering: .relaxed)
    }

    private func tripEnded() {
        writesQueued.subtract(1, ordering: .relaxed)
        tripsQueued.subtract(1, ordering: .relaxed)
    }

    /// A write whose transaction, once committed, is followed by `afterCommit` with what the body
    /// returned, on the writer's thread in the same trip (removing files the transaction no longer
    /// refers to). Nothing runs after a rollback. Unlike GRDB's `afterNextTransaction`, no
    /// transaction observer is registered, so the statements of the transaction are not observed.
    public func write<T: Sendable>(
        _ body: @Sendable (Database) throws -> T, afterCommit: @Sendable (T) -> Void
    ) async throws -> T {
        tripTaken()
        defer { tripEnded() }
        return try await database.writeWithoutTransaction { db in
            let value = try Self.transaction(db, body)
            afterCommit(value)
            return value
        }
    }

    /// `write(_:afterCommit:)` on the calling thread when the writer is free; nil (nothing done)
    /// when it is not, and the caller then awaits `write`. For short transactions asked for on an
    /// event loop (a small object's row): the writer is a serial dispatch queue, which runs a block
    /// given synchronously on the caller's thread when it is idle, so the write takes no trip to
    /// another thread and back — the trip wakes two threads and costs more than a small
    /// transaction. `afterCommit` runs once the writer is free again.
    ///
    /// When the writer is busy with another such write (another loop's row), this waits for it by
    /// spinning, up to `spinLimit`; when a write is queued, it gives up at once. Measured with
    /// 1 KiB PUTs on two loops: spinning for the other loop's row gave 11–16% more PUTs/s at 8 and
    /// 64 connections than taking the trip; also waiting for queued writes lost 5–22% at 64
    /// connections (a queue of trips takes long), and parking the thread on the queue instead of
    /// spinning lost more (4.7–5.8k PUTs/s against 7.5k).
    public func writeNowIfIdle<T>(
        _ body: (Database) throws -> T, afterCommit: (T) -> Void, waitingUpTo limit: Duration? = nil
    ) throws -> T? {
        guard claimIdleWriter(waitingUpTo: limit ?? spinLimit) else { return nil }
        let value: T
        do {
            defer { writesQueued.subtract(1, ordering: .releasing) }
            value = try database.writeWithoutTransaction { db in try Self.transaction(db, body) }
        }
        afterCommit(value)
        return value
    }

    /// How long `writeNowIfIdle` waits for another thread's short write: a few times the ~20 µs
    /// such a write takes (with `durability: .normal`; with `.full` it does not wait).
    public static let defaultSpinLimit = Duration.microseconds(100)

    /// Takes the writer (counts the write in `writesQueued`) if it is idle, or once the short
    /// write running on another thread ends within `limit`; false otherwise.
    private func claimIdleWriter(waitingUpTo limit: Duration) -> Bool {
        var deadline: ContinuousClock.Instant?
        var spins = 0
        while !writesQueued.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
            if tripsQueued.load(ordering: .relaxed) > 0 { return false }
            spins += 1
            guard spins & 63 == 0 else { continue }
            let now = ContinuousClock.now
            if let deadline {
                if now > deadline { return false }
            } else {
                deadline = now + limit
            }
        }
        return true
    }

    /// A transaction begun and committed with cached statements (GRDB's `inTransaction` prepares
    /// both from their SQL text every time), rolled back when the body or the commit fails.
    private static func transaction<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        let value: T
        do {
            value = try body(db)
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            throw error
        }
        return value
    }

    /// Deletes every row of the given tables in one transaction.
    public func clear(tables: [String]) async throws {
        try await write { db in
            for t in tables { try db.execute(sql: "DELETE FROM \(t)") }
        }
    }

    public func close() throws {
        try database.close()
    }
}
