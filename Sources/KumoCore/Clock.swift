#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Synchronization

/// The one clock every service uses.
///
/// `now` is wall-clock time (timestamps shown to clients are real). Durations
/// that AWS defines — visibility timeouts, alarm periods, cooldowns, health
/// check intervals — pass through `duration(awsSeconds:)`, which applies
/// `--time-scale`: with a scale of 0.1 a 60-second period lasts 6 seconds.
/// Tests can also move time forward by hand with `advance(by:)`.
public final class KumoClock: Sendable {
    public let timeScale: Double
    private let offset: Mutex<TimeInterval>

    public init(timeScale: Double = 1.0) {
        precondition(timeScale > 0, "time scale must be positive")
        self.timeScale = timeScale
        self.offset = Mutex(0)
    }

    /// The current time (plus any manual advance).
    public var now: Date { Date().addingTimeInterval(offset.withLock { $0 }) }

    /// Moves `now` forward; for tests.
    public func advance(by seconds: TimeInterval) {
        offset.withLock { $0 += seconds }
    }

    /// How long an AWS-defined duration of `seconds` really lasts under the time scale.
    public func duration(awsSeconds seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * timeScale * 1_000_000_000).rounded()))
    }

    /// Sleeps for an AWS-defined duration, scaled.
    public func sleep(awsSeconds seconds: Double) async throws {
        try await Task.sleep(for: duration(awsSeconds: seconds))
    }
}
