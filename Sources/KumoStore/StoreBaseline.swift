import GRDB

/// The schema that a list of migrations builds, as the statements that create it at once: a new
/// data dir is made from it in a few milliseconds instead of replaying every migration (each
/// CREATE and ALTER makes SQLite re-read its schema; replaying Kumo's history took ~20 ms, most
/// of a first start). It applies only to a new database and only when the migrations are exactly
/// the ones it was made from, so a stale baseline costs time, never correctness.
public struct StoreBaseline: Sendable, Equatable {
    /// The migrations it stands for, in order (Kumo's own `kumo.v1` first).
    public var names: [String]
    /// CREATE TABLE / INDEX / TRIGGER / VIEW statements, in the order SQLite recorded them.
    public var statements: [String]

    public init(names: [String], statements: [String]) {
        self.names = names
        self.statements = statements
    }

    public enum Failure: Error, Equatable {
        /// A migration left rows behind; a baseline holds only the schema.
        case migrationWroteRows(table: String)
    }

    /// Runs the migrations in an in-memory database and reads back the schema they leave.
    public static func of(_ migrations: [StoreMigration]) throws -> StoreBaseline {
        let all = Store.withMeta(migrations)
        let memory = try DatabaseQueue()
        try Store.migrate(memory, all)
        let statements = try memory.read { db -> [String] in
            for table in try String.fetchAll(db, sql: Self.tablesSQL) {
                let rows = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.quotedDatabaseIdentifier))")
                if rows == true { throw Failure.migrationWroteRows(table: table) }
            }
            return try String.fetchAll(db, sql: Self.schemaSQL)
        }
        return StoreBaseline(names: all.map(\.name), statements: statements)
    }

    /// Kumo's tables and SQLite's internal ones are made by the store itself.
    static let ownObjects = "name NOT LIKE 'sqlite_%' AND name != 'kumo_migrations'"
    static let tablesSQL = "SELECT name FROM sqlite_master WHERE type = 'table' AND \(ownObjects)"
    static let schemaSQL = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND \(ownObjects) ORDER BY rowid"
}
