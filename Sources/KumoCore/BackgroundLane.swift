#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// One thread of its own, scheduled below the event loops, for bulk work that is on no request's
/// path: writing a batch of log lines, say. Swift tasks run on the event loops in kumo (see
/// `EventLoopExecutor`), so a batch that takes a few milliseconds there holds up every request
/// queued behind it on that loop; on this thread the kernel runs the loops first. Jobs run one at a
/// time, in the order they came.
public final class BackgroundLane: Sendable {
    /// The lane kumo's services share.
    public static let shared = BackgroundLane(name: "kumo-background", nice: 10)

    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let waiting = DispatchSemaphore(value: 0)

    /// Starts the thread named `name` at scheduling priority `nice` (0 is the default; 19 the lowest).
    public init(name: String, nice: Int32) {
        let start = Start(lane: self, name: name, nice: nice)
        #if canImport(Glibc)
        var thread = pthread_t()
        let made = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.run()
            return nil
        }, Unmanaged.passRetained(start).toOpaque())
        precondition(made == 0, "cannot start the background thread")
        pthread_detach(thread)
        #else
        DispatchQueue.global(qos: .utility).async { start.run() }
        #endif
    }

    /// Runs `work` on the lane and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            jobs.withLock { $0.append { done.resume(returning: work()) } }
            waiting.signal()
        }
    }

    /// What the thread runs: lowers its own priority, then takes jobs as they come, forever.
    private final class Start: @unchecked Sendable {
        let lane: BackgroundLane
        let name: String
        let nice: Int32

        init(lane: BackgroundLane, name: String, nice: Int32) {
            (self.lane, self.name, self.nice) = (lane, name, nice)
        }

        func run() {
            #if canImport(Glibc)
            // Named for `top -H` and `ps -L` (the kernel keeps 15 bytes).
            let comm = open("/proc/thread-self/comm", O_WRONLY)
            if comm >= 0 {
                _ = Array(name.utf8.prefix(15)).withUnsafeBytes { write(comm, $0.baseAddress, $0.count) }
                close(comm)
            }
            // On Linux the nice value belongs to each thread, and 0 names the calling one: the rest of
            // the process keeps its priority.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
            #endif
            while true {
                lane.waiting.wait()
                let job = lane.jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                job?()
            }
        }
    }
}
