#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An instance type's limits on the instance's processes: vCPUs as a CPU quota and memory as a
/// hard limit, with cgroup v2 when its cpu and memory controllers can be given to Kumo, else with
/// the cgroup v1 cpu and memory hierarchies. Where neither can be written (no privileges, no
/// cgroup file system) the limits are only recorded, and `kumo up` says so.
struct CgroupLimits: Sendable {
    enum Backend: Sendable {
        /// A cgroup v2 directory whose children get `cpu.max` and `memory.max`.
        case v2(String)
        /// cgroup v1 directories for `cpu.cfs_quota_us` and `memory.limit_in_bytes`.
        case v1(cpu: String, memory: String)
        case unavailable(String)
    }

    let backend: Backend

    /// `cgroup-v2`, `cgroup-v1` or `none` (the ready file's `instanceLimits`).
    var kind: String {
        switch backend {
        case .v2: "cgroup-v2"
        case .v1: "cgroup-v1"
        case .unavailable: "none"
        }
    }

    /// What `kumo up` prints about instance limits.
    var summary: String {
        switch backend {
        case .v2(let dir): "enforced with cgroup v2 (\(dir))"
        case .v1(let cpu, let memory): "enforced with cgroup v1 (\(cpu), \(memory))"
        case .unavailable(let why): "recorded, not enforced: \(why)"
        }
    }

    static func detect(root: String = "/sys/fs/cgroup") -> CgroupLimits {
        for base in [root, root + "/unified"] {
            let controllers = words(base + "/cgroup.controllers")
            guard controllers.contains("cpu"), controllers.contains("memory") else { continue }
            let dir = base + "/kumo"
            mkdir(dir, 0o755)
            write(base + "/cgroup.subtree_control", "+cpu +memory")
            write(dir + "/cgroup.subtree_control", "+cpu +memory")
            let enabled = words(dir + "/cgroup.subtree_control")
            if enabled.contains("cpu"), enabled.contains("memory") { return CgroupLimits(backend: .v2(dir)) }
        }
        let cpu = root + "/cpu/kumo", memory = root + "/memory/kumo"
        if FileManager.default.fileExists(atPath: root + "/cpu/cpu.cfs_quota_us"),
            FileManager.default.fileExists(atPath: root + "/memory/memory.limit_in_bytes")
        {
            mkdir(cpu, 0o755)
            mkdir(memory, 0o755)
            if access(cpu + "/cgroup.procs", W_OK) == 0, access(memory + "/cgroup.procs", W_OK) == 0 {
                return CgroupLimits(backend: .v1(cpu: cpu, memory: memory))
            }
        }
        return CgroupLimits(backend: .unavailable("no writable cgroup cpu and memory controllers (Kumo needs root or a delegated cgroup)"))
    }

    /// Makes the instance's cgroups with its limits; returns the `cgroup.procs` files its first
    /// process joins before it starts anything (so every descendant is inside).
    func prepare(_ id: String, vcpus: Double, memoryMiB: Int) -> [String] {
        let quota = Int(vcpus * 100_000)
        let bytes = memoryMiB << 20
        switch backend {
        case .v2(let dir):
            let group = dir + "/" + id
            mkdir(group, 0o755)
            guard Self.write(group + "/cpu.max", "\(quota) 100000"), Self.write(group + "/memory.max", String(bytes)) else { return [] }
            return [group + "/cgroup.procs"]
        case .v1(let cpu, let memory):
            mkdir(cpu + "/" + id, 0o755)
            mkdir(memory + "/" + id, 0o755)
            guard Self.write(cpu + "/" + id + "/cpu.cfs_period_us", "100000"), Self.write(cpu + "/" + id + "/cpu.cfs_quota_us", String(quota)),
                Self.write(memory + "/" + id + "/memory.limit_in_bytes", String(bytes))
            else { return [] }
            return [cpu + "/" + id + "/cgroup.procs", memory + "/" + id + "/cgroup.procs"]
        case .unavailable:
            return []
        }
    }

    /// Removes the instance's cgroups once its processes are gone.
    func remove(_ id: String) {
        switch backend {
        case .v2(let dir): rmdir(dir + "/" + id)
        case .v1(let cpu, let memory):
            rmdir(cpu + "/" + id)
            rmdir(memory + "/" + id)
        case .unavailable: break
        }
    }

    /// The words of a cgroup file (empty when it cannot be read).
    static func words(_ path: String) -> [Substring] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace)
    }

    @discardableResult
    static func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }
}
