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
/// A global job is run as the runtime's own pool would run it: on the generic executor, not
/// isolated to the event loop. Run as the loop's serial executor (what `EventLoop.enqueue` does,
/// and NIO's switch), every call into a nonisolated async function must first leave that
/// isolation, so it is enqueued again: a signed API call made ~57 such round trips, each a
/// queue insertion and a dynamic cast, about a fifth of its instructions.
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
            MultiThreadedEventLoopGroup.singleton.any().execute { runOnGenericExecutor(job, generic) }
        }
        slot.pointee = unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)
        return true
    }
}

/// The runtime's entry for running a job on a given executor (what its global pool calls).
@_silgen_name("swift_job_run")
private func runOnGenericExecutor(_ job: UnownedJob, _ executor: UnownedSerialExecutor)

/// The generic executor: no identity, no implementation (the runtime's `SerialExecutorRef::generic()`).
private let generic = unsafeBitCast((0, 0) as (Int, Int), to: UnownedSerialExecutor.self)
