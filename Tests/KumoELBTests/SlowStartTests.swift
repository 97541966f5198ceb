import Testing

@testable import KumoELB

@Suite struct SlowStartTests {
    static let group = "arn:tg"
    static let targets: [(id: String, port: Int)] = [("old", 80), ("new", 80)]

    /// `old` healthy for long, `new` healthy since `newSince`.
    static func board(newSince: ContinuousClock.Instant) -> HealthBoard {
        let board = HealthBoard()
        for (id, since) in [("old", newSince - .seconds(3600)), ("new", newSince)] {
            board.registered(group: group, id: id, port: 80)
            board.update(group: group, id: id, port: 80) { e in
                e.state = "healthy"
                e.address = "127.0.0.1"
                e.healthySince = since
            }
        }
        return board
    }

    @Test func aNewTargetRampsUpLinearly() {
        let start = ContinuousClock.now
        let board = Self.board(newSince: start)
        func share(at elapsed: Duration) -> Double {
            var picks = 0
            var n = 0
            for i in 0..<1000 {
                let drawn = Double(i) / 1000  // an even spread instead of random draws
                let t = board.pick(
                    group: Self.group, targets: Self.targets, leastOutstanding: false, slowStart: .seconds(100), now: start + elapsed, draw: { drawn })
                if t?.id == "new" { picks += 1 }
                n += 1
            }
            return Double(picks) / Double(n)
        }
        #expect(share(at: .seconds(0)) == 0)
        #expect(abs(share(at: .seconds(50)) - 0.25) < 0.05)  // half the ramp: half a share of round robin
        #expect(abs(share(at: .seconds(200)) - 0.5) < 0.05)  // settled: an equal share
    }

    @Test func noSlowStartWhenNoTargetIsSettled() {
        let start = ContinuousClock.now
        let board = HealthBoard()
        board.registered(group: Self.group, id: "new", port: 80)
        board.update(group: Self.group, id: "new", port: 80) { e in
            e.state = "healthy"
            e.address = "127.0.0.1"
            e.healthySince = start
        }
        let t = board.pick(group: Self.group, targets: [("new", 80)], leastOutstanding: false, slowStart: .seconds(100), now: start, draw: { 0.99 })
        #expect(t?.id == "new")
    }
}
