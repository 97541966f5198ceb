#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A UTC date and time of day in the proleptic Gregorian calendar, worked out with integer
/// arithmetic (Howard Hinnant's algorithms) rather than Foundation's calendars and formatters:
/// every timestamp Kumo writes — on the wire and in the store — is made from one of these.
public struct CivilTime: Sendable, Equatable {
    public var year, month, day, hour, minute, second: Int
    public var nanos: Int

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanos: Int) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second, self.nanos) = (year, month, day, hour, minute, second, nanos)
    }

    public init(_ date: Date) {
        let t = date.timeIntervalSince1970
        var secs = Int(t.rounded(.down))
        var nanos = Int(((t - Double(secs)) * 1_000_000_000).rounded())
        if nanos >= 1_000_000_000 { secs += 1; nanos -= 1_000_000_000 }
        var z = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rem = secs - z * 86400
        z += 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d, hour: rem / 3600, minute: rem % 3600 / 60, second: rem % 60, nanos: nanos)
    }

    /// Days since 1970-01-01.
    public static func days(year y0: Int, month m: Int, day d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// `2026-12-03`.
    public var dateText: String { "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))" }

    /// `16:10:00`.
    public var timeText: String { "\(Self.pad(hour, 2)):\(Self.pad(minute, 2)):\(Self.pad(second, 2))" }

    /// `v` in decimal, left-padded with zeros to `width` digits.
    public static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
