import CKumoRuntime
import NIOCore
import NIOPosix

/// Runs Swift concurrency's global jobs on NIO's event loops.
///
/// Without this, every request crosses threads twice: NIO reads it on an event loop, the
/// handler runs on Swift's own pool, and the answer goes back to the event loop to be written.
/// With it, a job enqueued from an event loop stays on that loop (`any()` prefers the current
/// one), so a request is read, handled and answered on one thread. NIO offers the same switch
/// (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`),
/// but it finds the hook with `dlsym`, which fails in a binary linked with the static Swift
/// runtime; here the hook is linked directly.
///
/// Jobs run isolated to the loop's serial executor, so each call into a nonisolated async function
/// goes once more through the loop's task queue (~57 times for a signed API call). Running them on
/// the generic executor instead (`swift_job_run`) removes those trips and 40% of a lone request's
/// instructions, but measured 15–25% fewer requests/s at 64 connections: a loop that finishes its
/// queue sooner sleeps in `epoll_wait` more often, and the wake-ups cost more than the trips saved.
enum EventLoopExecutor {
    typealias Original = @convention(thin) (UnownedJob) -> Void
    typealias Hook = @convention(thin) (UnownedJob, Original) -> Void

    /// Installs the hook once, from the main thread before any task runs; false if another
    /// hook is already in place (then Swift's own pool keeps running the jobs).
    @discardableResult
    static func install() -> Bool {
        let slot = kumo_enqueue_global_hook()
        guard slot.pointee == nil else { return false }
        let hook: Hook = { job, _ in
            MultiThreadedEventLoopGroup.singleton.any().executor.enqueue(ExecutorJob(job))
        }
        slot.pointee = unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)
        return true
    }
}
