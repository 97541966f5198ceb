public import GRDB
import KumoCore
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// How a `Date` is stored: the text GRDB writes by default, `2026-12-03 16:10:00.123` (UTC,
/// to the millisecond), but made without Foundation's DateFormatter, which GRDB uses for it
/// and which brings ICU along — megabytes of code and data touched at start-up, and a locked
/// formatter on every write of a record with a date. Same text, so stores written before read back
/// unchanged and compare in order.
public enum StoredDate {
    public static func text(_ date: Date) -> String {
        // Rounded to the nearest millisecond, as the formatter does.
        let ms = Int((date.timeIntervalSince1970 * 1000 + 0.5).rounded(.down))
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = ms - seconds * 1000
        let c = CivilTime(Date(timeIntervalSince1970: Double(seconds)))
        return "\(CivilTime.pad(c.year, 4))-\(CivilTime.pad(c.month, 2))-\(CivilTime.pad(c.day, 2)) "
            + "\(CivilTime.pad(c.hour, 2)):\(CivilTime.pad(c.minute, 2)):\(CivilTime.pad(c.second, 2)).\(CivilTime.pad(millis, 3))"
    }
}

/// Records with `Date` members: their dates are written as `StoredDate.text`.
public protocol StoredDates: EncodableRecord {}

extension StoredDates {
    public static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy {
        .custom { StoredDate.text($0) }
    }
}

extension Date {
    /// This date as the store writes it, for SQL arguments and filters that compare with stored dates.
    public var stored: String { StoredDate.text(self) }
}
