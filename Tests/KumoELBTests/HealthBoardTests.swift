import Testing

@testable import KumoELB

/// Round robin over the healthy targets, as the board's health changes.
@Suite struct HealthBoardTests {
    static let group = "arn:tg"
    static let targets: [(id: String, port: Int)] = [("a", 80), ("b", 80), ("c", 80)]

    func picks(_ board: HealthBoard, _ n: Int) -> [String] {
        (0..<n).compactMap { _ in board.pick(group: Self.group, targets: Self.targets, leastOutstanding: false)?.id }
    }

    func set(_ board: HealthBoard, _ id: String, _ state: String) {
        board.update(group: Self.group, id: id, port: 80) { e in
            e.state = state
            e.address = "127.0.0.\(id == "a" ? 2 : id == "b" ? 3 : 4)"
        }
    }

    @Test func takesTurnsAmongTheHealthyAsTheyChange() {
        let board = HealthBoard()
        for t in Self.targets { board.registered(group: Self.group, id: t.id, port: t.port) }
        #expect(picks(board, 3).isEmpty)  // initial: none healthy yet
        set(board, "a", "healthy")
        set(board, "b", "healthy")
        #expect(picks(board, 4).sorted() == ["a", "a", "b", "b"])
        let picked = board.pick(group: Self.group, targets: Self.targets, leastOutstanding: false)
        #expect(picked?.address == "127.0.0.2" || picked?.address == "127.0.0.3")
        #expect(picked?.healthy == 2)
        set(board, "c", "healthy")
        #expect(picks(board, 6).sorted() == ["a", "a", "b", "b", "c", "c"])
        set(board, "b", "unhealthy")
        #expect(picks(board, 4).sorted() == ["a", "a", "c", "c"])
        board.draining(group: Self.group, id: "a", port: 80, for: .seconds(60))
        #expect(picks(board, 3) == ["c", "c", "c"])
        // Registered again after deregistration: initial until its checks pass.
        board.registered(group: Self.group, id: "a", port: 80)
        #expect(picks(board, 2) == ["c", "c"])
        set(board, "a", "healthy")
        #expect(picks(board, 4).sorted() == ["a", "a", "c", "c"])
    }
}
