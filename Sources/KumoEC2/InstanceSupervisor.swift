import GRDB
import KumoCore
import KumoStore
import Logging
#if canImport(Glibc)
import Glibc
#endif
public import ServiceLifecycle
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs instances as real processes: one process group per instance, started from its
/// user data; restarts what was running when Kumo starts again, and leaves nothing
/// running when Kumo exits.
public final class InstanceSupervisor: Service, Sendable {
    let store: Store
    let clock: KumoClock
    let logger: Logger
    let directory: String
    let endpoint = Mutex<String>("http://127.0.0.1:4566")
    private let groups = Mutex<[String: ProcessGroup]>([:])
    private let types = Mutex<[String: String]>([:])
    /// Instance → its Auto Scaling group (the `aws:autoscaling:groupName` tag), for group CPU metrics.
    private let autoScalingGroups = Mutex<[String: String]>([:])
    let meter = CPUMeter()
    /// Where console output goes as it is written (`/kumo/ec2/<instance-id>` in CloudWatch Logs).
    let logs: (any LogSink)?
    /// Console bytes already sent, and each running instance's account, region, log group and stream.
    private let shipped = Mutex<[String: (offset: UInt64, account: String, region: String, logGroup: String, stream: String)]>([:])

    /// How instance types' vCPUs and memory are applied to instances' processes.
    let limits = CgroupLimits.detect()

    init(store: Store, clock: KumoClock, logger: Logger, logs: (any LogSink)?) {
        self.logs = logs
        self.store = store
        self.clock = clock
        self.logger = logger
        self.directory = store.directory + "/instances"
    }

    func folder(_ id: String) -> String { directory + "/" + id }
    func consoleLog(_ id: String) -> String { folder(id) + "/console.log" }

    /// A file of the instance's folder that could not be written.
    struct FileNotWritten: Error, CustomStringConvertible {
        var path: String
        var description: String { "could not write \(path)" }
    }

    /// Writes a file of the instance's folder; a failure fails the launch.
    static func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw FileNotWritten(path: path) }
    }

    /// Starts the instance's processes and marks it running.
    func launch(_ instance: InstanceRecord) async {
        do {
            try FileManager.default.createDirectory(atPath: folder(instance.id), withIntermediateDirectories: true)
            var script = folder(instance.id) + "/user-data"
            try Self.write(instance.userData, to: script)
            // A registered image's command runs beside the user data (which runs first, in the background).
            let flags = EC2.attributes(instance)
            if let command = flags["image.command"], !command.isEmpty {
                let home = folder(instance.id)
                try Self.write(command, to: home + "/image-command")
                var launch = "/bin/sh \"$HOME/user-data\" &\n"
                if let directory = flags["image.directory"], !directory.isEmpty {
                    launch += "cd '" + directory.replacing("'", with: "'\\''") + "' || exit 1\n"
                }
                launch += "exec /bin/sh \"$HOME/image-command\"\n"
                script = home + "/launch"
                try Self.write(launch, to: script)
            }
            let environment: [String: String] = [
                "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
                "HOME": folder(instance.id), "KUMO_BIND_ADDRESS": instance.bindAddress, "KUMO_INSTANCE_ID": instance.id,
                "KUMO_PRIVATE_IP": instance.privateIp, "KUMO_AVAILABILITY_ZONE": instance.availabilityZone,
                "AWS_DEFAULT_REGION": instance.region, "AWS_REGION": instance.region,
                "AWS_ENDPOINT_URL": endpoint.withLock { $0 },
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint.withLock { $0 } + MetadataService.prefix + instance.id,
            ]
            // A process group left by a Kumo that was killed (kill -9) goes before a new one starts.
            let pidFile = folder(instance.id) + "/pgid"
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let old = Int32(text), old > 1 {
                ProcessGroup(pid: old).killNow()
            }
            let cgroups = limits.prepare(instance.id, vcpus: InstanceSize.vCPUs(instance.instanceType), memoryMiB: InstanceSize.memoryMiB(instance.instanceType))
            let group = try ProcessGroup.spawn(
                script: script, directory: folder(instance.id), environment: environment, log: consoleLog(instance.id), cgroups: cgroups)
            do { try Self.write(String(group.pid), to: pidFile) } catch {
                // Only a restart after kill -9 needs it (to stop the old processes); the instance runs.
                logger.warning("instance process group not recorded", metadata: ["instance": "\(instance.id)", "error": "\(error)"])
            }
            groups.withLock { $0[instance.id] = group }
            // Its Auto Scaling group, and the log group its console goes to (the `kumo:log-group` tag, else /kumo/ec2/<id>).
            let tags = (try? await store.read { db in
                try TagRecord.filter(Column("resourceId") == instance.id && ["aws:autoscaling:groupName", Self.logGroupTag].contains(Column("key")))
                    .fetchAll(db)
            }) ?? []
            let named = tags.first { $0.key == Self.logGroupTag }?.value
            let (logGroup, stream) = named.map { ($0, instance.id) } ?? ("/kumo/ec2/" + instance.id, "console")
            shipped.withLock { state in
                let offset = state[instance.id]?.offset ?? 0
                state[instance.id] = (offset, instance.accountId, instance.region, logGroup, stream)
            }
            types.withLock { $0[instance.id] = instance.instanceType }
            if let name = tags.first(where: { $0.key == "aws:autoscaling:groupName" })?.value { autoScalingGroups.withLock { $0[instance.id] = name } }
            try await setState(instance.id, "running", reason: nil)
        } catch {
            logger.error("instance did not start", metadata: ["instance": "\(instance.id)", "error": "\(error)"])
            try? await setState(instance.id, "stopped", reason: "Server.InternalError: \(error)")
        }
    }

    /// Stops the instance's processes (SIGTERM, then SIGKILL), then records `state`.
    func halt(_ id: String, then state: String) async {
        autoScalingGroups.withLock { $0[id] = nil }
        if let group = groups.withLock({ $0.removeValue(forKey: id) }) {
            await group.stop()
            try? FileManager.default.removeItem(atPath: folder(id) + "/pgid")
        }
        limits.remove(id)
        try? await setState(id, state, reason: nil)
    }

    func setState(_ id: String, _ state: String, reason: String?) async throws {
        let forget = state == "terminated" ? clock.now.addingTimeInterval(3600 * clock.timeScale) : nil
        try await store.write { db in
            try db.execute(
                sql: "UPDATE ec2_instances SET state = ?, stateReason = ?, forgetAt = ? WHERE id = ?", arguments: [state, reason, forget?.stored, id])
        }
    }

    /// CPUUtilization of every running instance since the last call (`AWS/EC2`), per InstanceId
    /// and, for instances of an Auto Scaling group, per AutoScalingGroupName.
    func cpuUtilization() -> [(MetricKey, Double)] {
        let running = groups.withLock { $0 }
        let kinds = types.withLock { $0 }
        let asg = autoScalingGroups.withLock { $0 }
        return meter.sample(running.map { (id: $0.key, pgid: $0.value.pid, vcpus: InstanceSize.vCPUs(kinds[$0.key] ?? "")) }).flatMap { id, value in
            var keys = [MetricKey(namespace: "AWS/EC2", name: "CPUUtilization", dimensions: [("InstanceId", id)])]
            if let group = asg[id] { keys.append(MetricKey(namespace: "AWS/EC2", name: "CPUUtilization", dimensions: [("AutoScalingGroupName", group)])) }
            return keys.map { ($0, value) }
        }
    }

    /// The instance tag naming the log group its console output goes to.
    static let logGroupTag = "kumo:log-group"

    /// Sends new console lines of every instance to CloudWatch Logs.
    func shipConsoleOutput() async {
        guard let logs else { return }
        for (id, state) in shipped.withLock({ $0 }) {
            let data = Self.read(consoleLog(id), from: state.offset)
            guard !data.isEmpty else { continue }
            // Only whole lines; a partial last line waits for its end.
            guard let lastNewline = data.lastIndex(of: 10) else { continue }
            let complete = data[data.startIndex...lastNewline]
            let now = Int64(clock.now.timeIntervalSince1970 * 1000)
            let lines = String(decoding: complete, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            await logs.append(
                accountId: state.account, region: state.region, group: state.logGroup, stream: state.stream,
                events: lines.map { (timestamp: now, message: String($0)) })
            shipped.withLock { $0[id]?.offset = state.offset + UInt64(complete.count) }
        }
    }

    /// The bytes of a file from an offset to its end (at most 1 MiB at a time).
    static func read(_ path: String, from offset: UInt64) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: 1 << 20)
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        return n > 0 ? Array(out.prefix(n)) : []
    }

    /// Whether an instance's processes still run (its reachability status check).
    func isAlive(_ id: String) -> Bool { groups.withLock { $0[id] }?.isAlive ?? false }

    public func run() async throws {
        // What was running when Kumo last stopped runs again.
        let running = try await store.read { db in
            try InstanceRecord.filter(["pending", "running"].contains(Column("state"))).fetchAll(db)
        }
        for instance in running { await launch(instance) }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                for (_, group) in self.groups.withLock({ $0 }) { group.reap() }
                await self.shipConsoleOutput()
                let now = self.clock.now
                _ = try? await self.store.write { db in
                    try InstanceRecord.filter(Column("state") == "terminated" && Column("forgetAt") < now.stored).deleteAll(db)
                }
            }
        }
        // Nothing an instance started outlives Kumo.
        for (_, group) in groups.withLock({ $0 }) { group.killNow() }
    }
}
