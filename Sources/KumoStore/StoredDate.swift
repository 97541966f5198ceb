public import GRDB
import KumoCore
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Records with `Date` members: their dates are written as `Date.stored`.
public protocol StoredDates: EncodableRecord {}

extension StoredDates {
    public static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy {
        .custom { $0.stored }
    }
}

extension Date {
    /// How a `Date` is stored: the text GRDB writes by default, `2026-12-03 16:10:00.123` (UTC, to
    /// the millisecond), but made without Foundation's DateFormatter, which GRDB uses for it and
    /// which brings ICU along — megabytes of code and data touched at start-up, and a locked
    /// formatter on every write of a record with a date. Same text, so stores written before read
    /// back unchanged and compare in order. Also for SQL arguments and filters that compare with
    /// stored dates.
    public var stored: String {
        // Rounded to the nearest millisecond, as the formatter does.
        let ms = Int((timeIntervalSince1970 * 1000 + 0.5).rounded(.down))
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let c = CivilTime(Date(timeIntervalSince1970: Double(seconds)))
        return c.dateText + " " + c.timeText + "." + CivilTime.pad(ms - seconds * 1000, 3)
    }
}
