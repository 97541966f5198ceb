import GRDB
import KumoStore
import Testing
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A new data dir made from a baseline is the data dir the migrations make; the baseline is used
/// only for a new database whose migrations are exactly the baseline's.
@Suite struct StoreBaselineTests {
    /// A history with an index, a foreign key and a table rebuild (new table, copy, drop, rename).
    static let history = [
        StoreMigration("t.v1") { db in
            try db.execute(sql: "CREATE TABLE p (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)")
            try db.execute(sql: "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p(id) ON DELETE CASCADE)")
            try db.execute(sql: "CREATE INDEX c_p ON c(p)")
        },
        StoreMigration("t.v2") { db in
            try db.execute(sql: "CREATE TABLE p_new (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL DEFAULT '')")
            try db.execute(sql: "INSERT INTO p_new SELECT id, coalesce(name, '') FROM p")
            try db.execute(sql: "DROP TABLE p")
            try db.execute(sql: "ALTER TABLE p_new RENAME TO p")
            try db.execute(sql: "CREATE INDEX p_name ON p(name)")
        },
    ]

    static func schema(_ store: Store) throws -> [[String?]] {
        try store.database.read { db in
            try Row.fetchAll(db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").map { row in
                [row["type"], row["name"], row["tbl_name"], row["sql"]]
            }
        }
    }

    static func migrated(_ store: Store) throws -> [String] {
        try store.database.read { db in try String.fetchAll(db, sql: "SELECT name FROM kumo_migrations ORDER BY rowid") }
    }

    @Test func aNewDataDirFromTheBaselineIsTheOneTheMigrationsMake() throws {
        let baseline = try StoreBaseline.of(Self.history)
        #expect(baseline.names == ["kumo.v1", "t.v1", "t.v2"])
        let replayed = try Store(directory: StoreMigrationTests.directory(), migrations: Self.history)
        let fromBaseline = try Store(directory: StoreMigrationTests.directory(), migrations: Self.history, baseline: baseline)
        #expect(try Self.schema(fromBaseline) == Self.schema(replayed))
        #expect(try Self.migrated(fromBaseline) == Self.migrated(replayed))
        // The foreign key works as made by the migrations.
        try fromBaseline.database.write { db in
            try db.execute(sql: "INSERT INTO p (name) VALUES ('a')")
            try db.execute(sql: "INSERT INTO c (id, p) VALUES (1, 1)")
            try db.execute(sql: "DELETE FROM p")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM c") == 0)
        }
    }

    /// The same names with a marker table in the statements: whether the marker exists says which way the store was made.
    static func marked(_ baseline: StoreBaseline) -> StoreBaseline {
        StoreBaseline(names: baseline.names, statements: baseline.statements + ["CREATE TABLE marker (id INTEGER)"])
    }

    static func hasMarker(_ store: Store) throws -> Bool { try store.database.read { db in try db.tableExists("marker") } }

    @Test func theBaselineIsUsedOnlyForItsExactMigrationsOnANewDatabase() throws {
        let baseline = Self.marked(try StoreBaseline.of(Self.history))
        #expect(try Self.hasMarker(Store(directory: StoreMigrationTests.directory(), migrations: Self.history, baseline: baseline)))

        // One more migration than the baseline knows: every migration runs instead.
        let v3 = StoreMigration("t.v3") { db in try db.execute(sql: "CREATE TABLE d (id INTEGER)") }
        let newer = try Store(directory: StoreMigrationTests.directory(), migrations: Self.history + [v3], baseline: baseline)
        #expect(try !Self.hasMarker(newer))
        #expect(try Self.migrated(newer) == ["kumo.v1", "t.v1", "t.v2", "t.v3"])

        // A data dir made before: the baseline is not applied, only the missing migration runs.
        let dir = StoreMigrationTests.directory()
        try Store(directory: dir, migrations: [Self.history[0]]).close()
        let reopened = try Store(directory: dir, migrations: Self.history, baseline: baseline)
        #expect(try !Self.hasMarker(reopened))
        #expect(try Self.migrated(reopened) == ["kumo.v1", "t.v1", "t.v2"])
    }

    @Test func aMigrationThatWritesRowsCannotBeABaseline() {
        let seeding = StoreMigration("t.seed") { db in
            try db.execute(sql: "CREATE TABLE s (id INTEGER)")
            try db.execute(sql: "INSERT INTO s VALUES (1)")
        }
        #expect(throws: StoreBaseline.Failure.migrationWroteRows(table: "s")) { try StoreBaseline.of([seeding]) }
    }
}
