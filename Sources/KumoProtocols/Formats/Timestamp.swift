import Synchronization
import KumoCore
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The three timestamp formats of AWS's models, without DateFormatter.
public enum TimestampFormat: String, Sendable {
    case iso8601
    case rfc822
    case unixTimestamp

    public init?(model: String?) {
        guard let model else { return nil }
        self.init(rawValue: model)
    }

    public func format(_ date: Date) -> String {
        switch self {
        case .iso8601: Timestamp.iso8601(date)
        case .rfc822: Timestamp.httpDate(date)
        case .unixTimestamp: Timestamp.epochString(date)
        }
    }

    public func parse(_ text: String) -> Date? {
        switch self {
        case .iso8601: Timestamp.parseISO8601(text)
        case .rfc822: Timestamp.parseHTTPDate(text)
        case .unixTimestamp: Double(text).map { Date(timeIntervalSince1970: $0) }
        }
    }
}

public enum Timestamp {
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `2015-01-25T08:00:00Z`, with milliseconds only when the time has them.
    public static func iso8601(_ date: Date) -> String {
        let c = CivilTime(date)
        let millis = (c.nanos + 500_000) / 1_000_000
        return CivilTime.text(capacity: 24) { c.appendISO8601(fraction: millis > 0 && millis < 1000 ? 3 : 0, to: &$0) }
    }

    /// `2015-01-25T08:00:00.000Z`, always with milliseconds (S3's style).
    public static func iso8601Millis(_ date: Date) -> String {
        let c = CivilTime(date)
        return CivilTime.text(capacity: 24) { c.appendISO8601(fraction: 3, to: &$0) }
    }

    /// `2018-07-02T22:23:00.186641Z`: microseconds, as load balancer access logs write times.
    public static func iso8601Micros(_ date: Date) -> String {
        let c = CivilTime(date)
        return CivilTime.text(capacity: 27) { c.appendISO8601(fraction: 6, to: &$0) }
    }

    /// `20150830T123600Z`, the SigV4 form.
    public static func amzDate(_ date: Date) -> String {
        let c = CivilTime(date)
        return CivilTime.text(capacity: 16) { out in
            out.digits(c.year, width: 4)
            out.digits(c.month, width: 2)
            out.digits(c.day, width: 2)
            out.byte(UInt8(ascii: "T"))
            out.digits(c.hour, width: 2)
            out.digits(c.minute, width: 2)
            out.digits(c.second, width: 2)
            out.byte(UInt8(ascii: "Z"))
        }
    }

    /// `Sun, 25 Jan 2015 08:00:00 GMT`.
    public static func httpDate(_ date: Date) -> String {
        let c = CivilTime(date)
        let z = CivilTime.days(year: c.year, month: c.month, day: c.day)
        let weekday = ((z % 7) + 7 + 4) % 7
        return CivilTime.text(capacity: 29) { out in
            for b in days[weekday].utf8 { out.byte(b) }
            out.bytes(", ")
            out.digits(c.day, width: 2)
            out.byte(UInt8(ascii: " "))
            for b in months[c.month - 1].utf8 { out.byte(b) }
            out.byte(UInt8(ascii: " "))
            out.digits(c.year, width: 4)
            out.byte(UInt8(ascii: " "))
            c.appendTime(to: &out)
            out.bytes(" GMT")
        }
    }

    /// The current time as an HTTP date (the `Date` header), made once a second.
    public static func httpDateNow() -> String {
        let now = Date()
        let second = Int64(now.timeIntervalSince1970.rounded(.down))
        if let (at, text) = currentHTTPDate.withLock({ $0 }), at == second { return text }
        let text = httpDate(now)
        currentHTTPDate.withLock { $0 = (second, text) }
        return text
    }

    private static let currentHTTPDate = Mutex<(Int64, String)?>(nil)

    public static func epochString(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        if t == t.rounded() && abs(t) < 1e15 { return String(Int64(t)) }
        let ms = (t * 1000).rounded() / 1000
        return String(ms)
    }

    static func date(_ c: CivilTime, offsetSeconds: Int = 0) -> Date? {
        guard (1...12).contains(c.month), (1...31).contains(c.day), (0...23).contains(c.hour), (0...59).contains(c.minute),
            (0...60).contains(c.second)
        else { return nil }
        let days = CivilTime.days(year: c.year, month: c.month, day: c.day)
        let secs = days * 86400 + c.hour * 3600 + c.minute * 60 + c.second - offsetSeconds
        return Date(timeIntervalSince1970: Double(secs) + Double(c.nanos) / 1_000_000_000)
    }

    /// Parses ISO 8601 date-times (`2015-01-25T08:00:00Z`, fractional seconds, `+hh:mm` offsets) and `20150830T123600Z`.
    public static func parseISO8601(_ text: String) -> Date? {
        let u = Array(text.utf8)
        var i = 0
        func num(_ n: Int) -> Int? {
            guard i + n <= u.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = u[i + k]
                guard c >= 0x30, c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            i += n
            return v
        }
        func eat(_ c: Character) -> Bool {
            if i < u.count, u[i] == c.asciiValue! { i += 1; return true }
            return false
        }
        guard let y = num(4) else { return nil }
        let dashed = eat("-")
        guard let mo = num(2) else { return nil }
        if dashed && !eat("-") { return nil }
        guard let d = num(2) else { return nil }
        guard eat("T") || eat("t") else { return nil }
        guard let h = num(2) else { return nil }
        let colons = eat(":")
        guard let mi = num(2) else { return nil }
        if colons && !eat(":") { return nil }
        guard let s = num(2) else { return nil }
        var nanos = 0
        if eat(".") {
            var digits = 0
            while i < u.count, u[i] >= 0x30, u[i] <= 0x39 {
                if digits < 9 { nanos = nanos * 10 + Int(u[i] - 0x30); digits += 1 }
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        var offset = 0
        if eat("Z") || eat("z") {
        } else if i < u.count, u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
            let sign = u[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = num(2) else { return nil }
            _ = eat(":")
            guard let om = num(2) else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == u.count else { return nil }
        return date(CivilTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s, nanos: nanos), offsetSeconds: offset)
    }

    /// Parses `Sun, 06 Nov 1994 08:49:37 GMT` (and without the weekday).
    public static func parseHTTPDate(_ text: String) -> Date? {
        var parts = text.split(separator: " ").map(String.init)
        if let first = parts.first, first.hasSuffix(",") { parts.removeFirst() }
        guard parts.count == 4, let day = Int(parts[0]), let monthIndex = months.firstIndex(of: parts[1]),
            let year = Int(parts[2]), parts[3].hasSuffix("GMT") || parts.count == 4
        else {
            // Form with the zone as a fifth part.
            guard parts.count == 5, parts[4] == "GMT" || parts[4] == "UTC", let day = Int(parts[0]),
                let monthIndex = months.firstIndex(of: parts[1]), let year = Int(parts[2])
            else { return nil }
            return hms(parts[3], year: year, month: monthIndex + 1, day: day)
        }
        return hms(parts[3], year: year, month: monthIndex + 1, day: day)
    }

    static func hms(_ text: String, year: Int, month: Int, day: Int) -> Date? {
        let t = text.split(separator: ":")
        guard t.count == 3, let h = Int(t[0]), let m = Int(t[1]) else { return nil }
        let secParts = t[2].split(separator: ".")
        guard let s = Int(secParts[0]) else { return nil }
        var nanos = 0
        if secParts.count == 2, let f = Double("0." + secParts[1]) { nanos = Int(f * 1_000_000_000) }
        return date(CivilTime(year: year, month: month, day: day, hour: h, minute: m, second: s, nanos: nanos))
    }
}
