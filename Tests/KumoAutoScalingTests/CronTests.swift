import Testing

@testable import KumoAutoScaling

@Suite struct CronTests {
    // 2026-11-22 09:41:23 UTC, a Sunday.
    static let sunday = 1_795_340_483.0

    @Test func nextRuns() throws {
        #expect(try #require(Cron("* * * * *")).next(after: Self.sunday) == 1_795_340_520)  // 09:42
        #expect(try #require(Cron("30 9 * * *")).next(after: Self.sunday) == 1_795_426_200)  // Monday 09:30
        #expect(try #require(Cron("0 8 * * 1-5")).next(after: Self.sunday) == 1_795_420_800)  // Monday 08:00
        #expect(try #require(Cron("5/15 * * * *")).next(after: Self.sunday) == 1_795_341_000)  // 09:50
        #expect(try #require(Cron("0 0 1 * *")).next(after: Self.sunday) == 1_796_083_200)  // 1 December
        #expect(try #require(Cron("0 0 * * 7")).next(after: Self.sunday) == 1_795_340_483 - 34_883 + 7 * 86_400)  // next Sunday 00:00
    }

    @Test func rejectsBadExpressions() {
        for bad in ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *", "5-1 * * * *", "a * * * *"] {
            #expect(Cron(bad) == nil, "\(bad)")
        }
    }
}
