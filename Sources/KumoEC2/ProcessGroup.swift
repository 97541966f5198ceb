#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The processes of one instance: a shell started in its own process group, so that
/// everything the user data starts can be found and stopped together.
struct ProcessGroup: Sendable {
    let pid: pid_t

    struct SpawnError: Error, CustomStringConvertible {
        var code: Int32
        var description: String { "posix_spawn failed: \(String(cString: strerror(code)))" }
    }

    /// Starts `/bin/sh script` in `directory` with `environment`, output appended to `log`.
    /// Runs `script` with /bin/sh in `directory` as the leader of a new process group; the shell
    /// first joins the cgroups whose `cgroup.procs` files are given, so all it starts is inside them.
    static func spawn(script: String, directory: String, environment: [String: String], log: String, cgroups: [String] = []) throws -> ProcessGroup {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // The shell changes into the instance's folder itself (glibc's addchdir is not visible to Swift).
        let join = "d=$0; s=$1; shift; for f in \"$@\"; do echo $$ > \"$f\"; done; cd \"$d\" && exec /bin/sh \"$s\""
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(join), strdup(directory), strdup(script)]
            + cgroups.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SpawnError(code: rc) }
        return ProcessGroup(pid: pid)
    }

    /// Reaps the shell if it has exited (its children may still run in the group).
    func reap() {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    /// Whether any process of the group is still alive.
    var isAlive: Bool {
        reap()
        return kill(-pid, 0) == 0
    }

    /// SIGTERM to the whole group, then SIGKILL to whatever is left after `grace` seconds.
    func stop(grace: Double = 2) async {
        _ = kill(-pid, SIGTERM)
        let deadline = ContinuousClock.now + .milliseconds(Int(grace * 1000))
        while isAlive, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if isAlive { _ = kill(-pid, SIGKILL) }
        reap()
    }

    /// SIGKILL to the whole group at once (Kumo is exiting).
    func killNow() {
        _ = kill(-pid, SIGKILL)
        reap()
    }
}
