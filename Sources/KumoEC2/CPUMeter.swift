#if canImport(Glibc)
import KumoCore
import Glibc
#endif
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CPU time of each instance's process group, read from /proc: CPUUtilization is the share
/// of the instance's vCPUs its processes used since the last reading.
final class CPUMeter: Sendable {
    private let last = Mutex<[String: (ticks: Double, at: ContinuousClock.Instant)]>([:])
    private let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// Utilization (percent) per instance since the previous call, for the given process groups.
    func sample(_ groups: [(id: String, pgid: Int32, vcpus: Double)]) -> [(String, Double)] {
        let ticks = Self.ticksByGroup()
        let now = ContinuousClock.now
        return last.withLock { previous in
            var out: [(String, Double)] = []
            var next: [String: (ticks: Double, at: ContinuousClock.Instant)] = [:]
            for g in groups {
                let t = ticks[g.pgid] ?? 0
                if let p = previous[g.id] {
                    let elapsed = now - p.at
                    let seconds = elapsed.inSeconds
                    if seconds > 0 {
                        let used = max(0, t - p.ticks) / hertz
                        out.append((g.id, min(100, 100 * used / (seconds * g.vcpus))))
                    }
                }
                next[g.id] = (t, now)
            }
            previous = next
            return out
        }
    }

    /// utime + stime (+ children's) clock ticks of every process, summed by process group.
    static func ticksByGroup() -> [Int32: Double] {
        var out: [Int32: Double] = [:]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return out }
        for entry in entries where entry.first?.isNumber == true {
            guard let text = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            // After the command: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14).
            guard fields.count > 14, let pgrp = Int32(fields[2]) else { continue }
            let used = [11, 12, 13, 14].compactMap { Double(fields[$0]) }.reduce(0, +)
            out[pgrp, default: 0] += used
        }
        return out
    }
}
