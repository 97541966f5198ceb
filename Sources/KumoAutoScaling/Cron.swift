#if canImport(Glibc)
import Glibc
#endif

/// A Unix cron expression as scheduled actions use it (`minute hour day-of-month month
/// day-of-week`, in UTC): `*`, numbers, lists, ranges and `/` steps; day of week 0–7 (0 and 7
/// are Sunday); a restricted day of month and day of week match either, as cron does.
struct Cron: Sendable, Equatable {
    let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>
    let anyDay: Bool, anyWeekday: Bool

    init?(_ text: String) {
        let fields = text.split(separator: " ").map(String.init)
        guard fields.count == 5,
            let minutes = Self.field(fields[0], 0...59), let hours = Self.field(fields[1], 0...23), let days = Self.field(fields[2], 1...31),
            let months = Self.field(fields[3], 1...12), let weekdays = Self.field(fields[4], 0...7)
        else { return nil }
        self.minutes = minutes
        self.hours = hours
        self.days = days
        self.months = months
        self.weekdays = Set(weekdays.map { $0 % 7 })
        anyDay = fields[2] == "*"
        anyWeekday = fields[4] == "*"
    }

    static func field(_ text: String, _ range: ClosedRange<Int>) -> Set<Int>? {
        var out = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let stepParts = part.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { return nil }
            let step = stepParts.count == 2 ? Int(stepParts[1]) ?? 0 : 1
            guard step > 0 else { return nil }
            var low = range.lowerBound, high = range.upperBound
            if stepParts[0] != "*" {
                let bounds = stepParts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2, let a = Int(bounds[0]), let b = bounds.count == 2 ? Int(bounds[1]) : a, range.contains(a), range.contains(b), a <= b
                else { return nil }
                low = a
                // `5/15` means from 5 to the end of the range.
                high = bounds.count == 1 && stepParts.count == 2 ? range.upperBound : b
            }
            out.formUnion(stride(from: low, through: high, by: step))
        }
        return out.isEmpty ? nil : out
    }

    /// The first matching minute strictly after `time` (seconds since 1970, UTC); nil if none within ~5 years.
    func next(after time: Double) -> Double? {
        var t = (Int(time) / 60 + 1) * 60
        let limit = t + 5 * 366 * 86_400
        while t < limit {
            var seconds = time_t(t)
            var c = tm()
            gmtime_r(&seconds, &c)
            let month = Int(c.tm_mon) + 1, day = Int(c.tm_mday), weekday = Int(c.tm_wday)
            let dayMatches = anyDay && anyWeekday ? true
                : anyDay ? weekdays.contains(weekday)
                : anyWeekday ? days.contains(day)
                : days.contains(day) || weekdays.contains(weekday)
            if !months.contains(month) || !dayMatches {
                // Skip to the next day.
                t += 86_400 - Int(c.tm_hour) * 3600 - Int(c.tm_min) * 60
                continue
            }
            if !hours.contains(Int(c.tm_hour)) {
                t += 3600 - Int(c.tm_min) * 60
                continue
            }
            if minutes.contains(Int(c.tm_min)) { return Double(t) }
            t += 60
        }
        return nil
    }
}
