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
    public var dateText: String { Self.text(capacity: 10) { appendDate(to: &$0) } }

    /// `16:10:00`.
    public var timeText: String { Self.text(capacity: 8) { appendTime(to: &$0) } }

    /// `2026-12-03T16:10:00`, then `fraction` digits of the second after a dot (none when 0;
    /// rounded, and capped at all nines rather than carried into the next second), then `Z`.
    public func appendISO8601(fraction: Int, to out: inout ASCIIWriter) {
        appendDate(to: &out)
        out.byte(UInt8(ascii: "T"))
        appendTime(to: &out)
        if fraction > 0 {
            var unit = 1_000_000_000
            for _ in 0..<fraction { unit /= 10 }
            var limit = 1
            for _ in 0..<fraction { limit *= 10 }
            out.byte(UInt8(ascii: "."))
            out.digits(min(limit - 1, (nanos + unit / 2) / unit), width: fraction)
        }
        out.byte(UInt8(ascii: "Z"))
    }

    public func appendDate(to out: inout ASCIIWriter) {
        out.digits(year, width: 4)
        out.byte(UInt8(ascii: "-"))
        out.digits(month, width: 2)
        out.byte(UInt8(ascii: "-"))
        out.digits(day, width: 2)
    }

    public func appendTime(to out: inout ASCIIWriter) {
        out.digits(hour, width: 2)
        out.byte(UInt8(ascii: ":"))
        out.digits(minute, width: 2)
        out.byte(UInt8(ascii: ":"))
        out.digits(second, width: 2)
    }

    /// A string written as ASCII bytes (at most `capacity` of them).
    public static func text(capacity: Int, _ write: (inout ASCIIWriter) -> Void) -> String {
        String(unsafeUninitializedCapacity: capacity) { buffer in
            var out = ASCIIWriter(buffer)
            write(&out)
            return out.count
        }
    }

    /// `v` in decimal, left-padded with zeros to `width` digits.
    public static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// Writes ASCII into a fixed buffer (what `CivilTime.text` fills); bytes past its end are dropped.
public struct ASCIIWriter {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    public private(set) var count = 0

    public init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    public mutating func byte(_ b: UInt8) {
        guard count < buffer.count else { return }
        buffer[count] = b
        count += 1
    }

    public mutating func bytes(_ s: StaticString) {
        s.withUTF8Buffer { for b in $0 { byte(b) } }
    }

    /// `v` (not negative) in decimal, left-padded with zeros to `width` digits.
    public mutating func digits(_ v: Int, width: Int) {
        var n = max(v, 0)
        var length = 1
        var scale = 10
        while scale <= n, length < 19 { length += 1; scale &*= 10 }
        for _ in length..<max(width, length) { byte(UInt8(ascii: "0")) }
        let start = count
        count = min(count + length, buffer.count)
        var i = start + length - 1
        while i >= start {
            if i < buffer.count { buffer[i] = UInt8(ascii: "0") + UInt8(n % 10) }
            n /= 10
            i -= 1
        }
    }
}
