import ServiceLifecycle
import Synchronization

/// Opens once the edge answers; background services wait for it, so start-up spends its
/// first milliseconds on binding the listeners, not on the services' first passes.
final class ReadyGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    var isOpen: Bool { state.withLock { $0.open } }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if !s.open { s.waiters.append(c) }
                return s.open
            }
            if ready { c.resume() }
        }
    }
}

/// A service that starts once the gate opens (and not at all if Kumo stops first).
struct AfterReady: Service {
    let gate: ReadyGate
    let service: any Service

    func run() async throws {
        await cancelWhenGracefulShutdown { await gate.wait() }
        guard gate.isOpen, !Task.isShuttingDownGracefully else { return }
        try await service.run()
    }
}
