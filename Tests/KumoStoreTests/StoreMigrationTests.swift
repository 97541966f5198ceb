import GRDB
import KumoStore
import Testing
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite struct StoreMigrationTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.path + "/kumo-migrations-" + UUID().uuidString
    }

    /// Plain CREATE TABLEs: running one twice fails.
    static let v1 = StoreMigration("t.v1") { db in try db.execute(sql: "CREATE TABLE a (id INTEGER PRIMARY KEY)") }
    static let v2 = StoreMigration("t.v2") { db in try db.execute(sql: "CREATE TABLE b (id INTEGER PRIMARY KEY)") }

    @Test func eachMigrationRunsOnceAcrossRestarts() throws {
        let dir = Self.directory()
        try Store(directory: dir, migrations: [Self.v1]).close()
        let store = try Store(directory: dir, migrations: [Self.v1, Self.v2])
        let tables = try store.database.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b') ORDER BY name")
        }
        #expect(tables == ["a", "b"])
        #expect(try store.database.read { db in try String.fetchAll(db, sql: "SELECT name FROM kumo_migrations ORDER BY name") }
            == ["kumo.v1", "t.v1", "t.v2"])
    }

    @Test func dataDirsMigratedByGRDBsMigratorKeepTheirHistory() throws {
        let dir = Self.directory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: dir + "/kumo.sqlite")
        var migrator = DatabaseMigrator()
        migrator.registerMigration("kumo.v1") { db in try db.execute(sql: "CREATE TABLE kumo_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)") }
        migrator.registerMigration("t.v1", migrate: Self.v1.migrate)
        try migrator.migrate(old)
        try old.close()

        let store = try Store(directory: dir, migrations: [Self.v1, Self.v2])
        #expect(try store.database.read { db in try db.tableExists("b") })
    }

    @Test func aFailingMigrationLeavesNoneOfThePendingOnesApplied() throws {
        let dir = Self.directory()
        let broken = StoreMigration("t.broken") { db in try db.execute(sql: "CREATE TABLE a (id INTEGER PRIMARY KEY)") }
        #expect(throws: (any Error).self) { try Store(directory: dir, migrations: [Self.v1, broken]) }
        let store = try Store(directory: dir, migrations: [Self.v1, Self.v2])
        #expect(try store.database.read { db in try db.tableExists("a") && db.tableExists("b") })
    }
}
