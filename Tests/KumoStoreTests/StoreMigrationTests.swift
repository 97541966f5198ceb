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

    @Test func aTableRebuildDoesNotCascadeToItsChildren() throws {
        let dir = Self.directory()
        let parent = StoreMigration("t.parent") { db in
            try db.execute(sql: "CREATE TABLE p (id INTEGER PRIMARY KEY)")
            try db.execute(sql: "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p(id) ON DELETE CASCADE)")
        }
        try Store(directory: dir, migrations: [parent]).database.write { db in
            try db.execute(sql: "INSERT INTO p (id) VALUES (1)")
            try db.execute(sql: "INSERT INTO c (id, p) VALUES (10, 1)")
        }
        let rebuild = StoreMigration("t.rebuild") { db in
            try db.execute(sql: "CREATE TABLE p_new (id INTEGER PRIMARY KEY, extra TEXT)")
            try db.execute(sql: "INSERT INTO p_new (id) SELECT id FROM p")
            try db.execute(sql: "DROP TABLE p")
            try db.execute(sql: "ALTER TABLE p_new RENAME TO p")
        }
        let store = try Store(directory: dir, migrations: [parent, rebuild])
        #expect(try store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM c") } == 1)
        // Foreign keys are on again afterwards.
        try store.database.write { db in try db.execute(sql: "DELETE FROM p") }
        #expect(try store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM c") } == 0)
    }

    @Test func aFailingMigrationLeavesNoneOfThePendingOnesApplied() throws {
        let dir = Self.directory()
        let broken = StoreMigration("t.broken") { db in try db.execute(sql: "CREATE TABLE a (id INTEGER PRIMARY KEY)") }
        #expect(throws: (any Error).self) { try Store(directory: dir, migrations: [Self.v1, broken]) }
        let store = try Store(directory: dir, migrations: [Self.v1, Self.v2])
        #expect(try store.database.read { db in try db.tableExists("a") && db.tableExists("b") })
    }
}
