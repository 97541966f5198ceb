import GRDB
import KumoStore
import Testing
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite struct GroupCommitTests {
    func store() throws -> Store {
        let dir = FileManager.default.temporaryDirectory.path + "/kumo-groupcommit-" + UUID().uuidString
        return try Store(directory: dir, migrations: [StoreMigration("t.v1") { db in
            try db.create(table: "t") { t in
                t.primaryKey("id", .integer)
                t.column("n", .integer).notNull().unique()
            }
        }])
    }

    @Test func concurrentWritesAllLandWithTheirOwnResults() async throws {
        let store = try store()
        let commits = GroupCommit(store: store)
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<200 {
                group.addTask {
                    try await commits.write { db -> Int in
                        try db.execute(sql: "INSERT INTO t (n) VALUES (?)", arguments: [i])
                        return i * 2
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.sorted() == (0..<200).map { $0 * 2 })
        #expect(try await store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 200)
    }

    @Test func oneFailingWriteRollsBackOnlyItself() async throws {
        let store = try store()
        let commits = GroupCommit(store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in [1, 2, 2, 3] {  // the second 2 breaks the unique constraint
                group.addTask {
                    do {
                        try await commits.write { db in
                            try db.execute(sql: "INSERT INTO t (n) VALUES (?)", arguments: [i + 100])
                            try db.execute(sql: "INSERT INTO t (n) VALUES (?)", arguments: [i])
                        }
                    } catch {}
                }
            }
            try await group.waitForAll()
        }
        let rows = try await store.read { db in try Int.fetchAll(db, sql: "SELECT n FROM t ORDER BY n") }
        #expect(rows == [1, 2, 3, 101, 102, 103])
    }
}
