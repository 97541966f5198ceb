import GRDB
import KumoStore
import Testing
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

private struct Stamped: Codable, FetchableRecord, PersistableRecord, StoredDates {
    static let databaseTableName = "stamped"
    var id: Int
    var at: Date
    var until: Date?
}

@Suite struct StoredDateTests {
    /// Dates around leap days, year ends, the epoch and sub-millisecond fractions.
    static let dates: [Double] = [
        0, 0.0009, 951_782_400.5, 1_709_164_799.999_9, 1_764_778_200.123_456, 1_735_689_599.9995, -86_400.25, 4_102_444_800.001,
    ]

    @Test(arguments: dates) func sameTextAsGRDBsFormatter(seconds: Double) {
        let date = Date(timeIntervalSince1970: seconds)
        // GRDB's own encoding (a DateFormatter) is what stores written before hold.
        #expect(date.stored.databaseValue == date.databaseValue)
    }

    /// GRDB asks the record type for its date strategy through the generic record encoder.
    static func custom<R: EncodableRecord>(_: R.Type) -> Bool {
        if case .custom = R.databaseDateEncodingStrategy(for: "at") { return true }
        return false
    }

    @Test func recordsUseTheStoredDateStrategy() {
        #expect(Self.custom(Stamped.self))
    }

    @Test func recordsWriteAndCompareDatesAsText() throws {
        let db = try DatabaseQueue()
        try db.write { db in
            try db.create(table: "stamped") { t in
                t.primaryKey("id", .integer)
                t.column("at", .datetime)
                t.column("until", .datetime)
            }
            let base = Date(timeIntervalSince1970: 1_764_778_200.25)
            for i in 0..<3 { try Stamped(id: i, at: base.addingTimeInterval(Double(i)), until: i == 0 ? nil : base).insert(db) }
            #expect(try String.fetchOne(db, sql: "SELECT at FROM stamped WHERE id = 1") == "2025-12-03 16:10:01.250")
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM stamped WHERE at > ?", arguments: [base.stored]) == 2)
            let back = try Stamped.fetchOne(db, key: 2)
            #expect(back?.at == base.addingTimeInterval(2))
            #expect(back?.until == base)
        }
    }
}
