import ArgumentParser
import KumoCore
import KumoSTS
import KumoACM
import KumoS3
import KumoSQS
import KumoRoute53
import KumoCloudFront
import KumoEC2
import KumoELB
import KumoCloudWatch
import KumoAutoScaling
import KumoLogs
import KumoDNS
import KumoServer
import KumoStore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KumoProtocols
import Foundation
import Synchronization

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Kumo in the foreground until Ctrl-C.",
        discussion: """
            Every flag can also be set with the environment variable named beside it.
            Point any AWS client at the edge: aws --endpoint-url http://localhost:4566 ...
            Data planes on the same port, by host name (with the host suffix in place of "localhost"):
            <bucket>.s3.localhost (S3), <bucket>.s3-website.localhost (website hosting),
            <id>.cloudfront.localhost and its alternate domain names (CloudFront),
            <name>-<digits>.<region>.elb.localhost (a load balancer; each listener also gets a port).
            EC2 instances are processes under <data-dir>/instances; each binds its own loopback address,
            and its instance type's vCPUs and memory limit it where Kumo may use cgroups (the start-up log says).
            """)

    @Option(help: "Address to listen on (env KUMO_HOST).")
    var host: String = Environment.string("KUMO_HOST") ?? "127.0.0.1"

    @Option(help: "The edge port that serves every AWS API; 0 picks a free one (env KUMO_PORT).")
    var port: Int = Environment.int("KUMO_PORT") ?? 4566

    @Option(help: "UDP port of Kumo's DNS server, which answers from Route 53 hosted zones; if 53 cannot be bound, 10053 is used; 0 picks a free one (env KUMO_DNS_PORT).")
    var dnsPort: Int = Environment.int("KUMO_DNS_PORT") ?? 53

    @Option(help: "Where state is kept: a SQLite database and object files (env KUMO_DATA_DIR).")
    var dataDir: String = Environment.string("KUMO_DATA_DIR") ?? "./.kumo"

    @Option(help: "The default region of requests that do not name one (env KUMO_REGION).")
    var region: String = Environment.string("KUMO_REGION") ?? "us-east-1"

    @Option(help: "The account of the default `test` credentials (env KUMO_ACCOUNT_ID).")
    var accountId: String = Environment.string("KUMO_ACCOUNT_ID") ?? "000000000000"

    @Option(name: .customLong("credentials"), help: ArgumentHelp("A JSON file declaring more access keys and their accounts (env KUMO_CREDENTIALS). See the README.", valueName: "file"))
    var credentialsFlag: String?
    /// The flag, else its environment variable (an Optional option cannot have a default).
    var credentials: String? { credentialsFlag ?? Environment.string("KUMO_CREDENTIALS") }

    @Flag(help: "Keep state in a temporary directory, deleted on exit (env KUMO_EPHEMERAL=1).")
    var ephemeral = Environment.bool("KUMO_EPHEMERAL")

    @Flag(help: "Accept any signature; a 12-digit access key id selects that account (env KUMO_NO_AUTH=1).")
    var noAuth = Environment.bool("KUMO_NO_AUTH")

    @Option(help: "Shortens every AWS period and delay: 0.1 runs AWS time ten times faster (env KUMO_TIME_SCALE).")
    var timeScale: Double = Environment.double("KUMO_TIME_SCALE") ?? 1.0

    @Option(help: "Host names Kumo answers to end in this, e.g. <bucket>.s3.localhost (env KUMO_HOST_SUFFIX).")
    var hostSuffix: String = Environment.string("KUMO_HOST_SUFFIX") ?? "localhost"

    @Option(help: "trace, debug, info, notice, warning, error or critical (env KUMO_LOG_LEVEL).")
    var logLevel: String = Environment.string("KUMO_LOG_LEVEL") ?? "info"

    @Option(help: "text or json (env KUMO_LOG_FORMAT).")
    var logFormat: String = Environment.string("KUMO_LOG_FORMAT") ?? "text"

    @Option(name: .customLong("ready-file"), help: ArgumentHelp("Once listening, write the actual addresses and ports here as JSON (env KUMO_READY_FILE).", valueName: "path"))
    var readyFileFlag: String?
    /// The flag, else its environment variable (an Optional option cannot have a default).
    var readyFile: String? { readyFileFlag ?? Environment.string("KUMO_READY_FILE") }

    @Option(help: "normal: writes survive a crash of kumo; full: also an OS crash, at a cost per write (env KUMO_DURABILITY).")
    var durability: String = Environment.string("KUMO_DURABILITY") ?? "normal"

    @Option(help: "CloudFront edge locations, each with its own cache: NAME or NAME=CIDR[+CIDR...] picks viewers by address; the first serves all others (env KUMO_CLOUDFRONT_EDGES).")
    var cloudfrontEdges: String = Environment.string("KUMO_CLOUDFRONT_EDGES") ?? "IAD89-C2"

    @Option(help: "Memory each CloudFront edge location may use for cached objects, in MiB (env KUMO_CLOUDFRONT_CACHE_MB).")
    var cloudfrontCacheMb: Int = Environment.int("KUMO_CLOUDFRONT_CACHE_MB") ?? 256

    @Option(help: "Load balancer listeners: `own` binds each listener's port (e.g. 80) when it is free and allowed, else a free one; `mapped` always picks a free port. /_kumo/health lists them (env KUMO_LISTENER_PORTS).")
    var listenerPorts: String = Environment.string("KUMO_LISTENER_PORTS") ?? "own"

    @Option(help: "Where DNS clients are, for Route 53 latency and geolocation routing: CIDR=REGION[:CONTINENT[:COUNTRY[:SUBDIVISION]]], comma-separated, e.g. 10.1.0.0/16=eu-west-1:EU:DE. A query's EDNS client subnet counts before its source address (env KUMO_DNS_CLIENT_LOCATIONS).")
    var dnsClientLocations: String = Environment.string("KUMO_DNS_CLIENT_LOCATIONS") ?? ""

    @Option(name: .customLong("dns-upstream"), help: ArgumentHelp("Forward queries for names outside Kumo's zones to this resolver, HOST or HOST:PORT (env KUMO_DNS_UPSTREAM). Off by default: such names are REFUSED.", valueName: "address"))
    var dnsUpstreamFlag: String?
    /// The flag, else its environment variable (an Optional option cannot have a default).
    var dnsUpstream: String? { dnsUpstreamFlag ?? Environment.string("KUMO_DNS_UPSTREAM") }

    func validate() throws {
        if let dnsUpstream, (try? upstreamAddress(dnsUpstream)) == nil {
            throw ValidationError("--dns-upstream: \(dnsUpstream) is not an address like 192.0.2.53 or 192.0.2.53:5353")
        }
        do { _ = try ClientLocations(dnsClientLocations) } catch {
            throw ValidationError("--dns-client-locations: \(error.entry) is not like 10.1.0.0/16=eu-west-1:EU:DE")
        }
        guard listenerPorts == "own" || listenerPorts == "mapped" else { throw ValidationError("--listener-ports must be own or mapped") }
        guard cloudfrontCacheMb > 0 else { throw ValidationError("--cloudfront-cache-mb must be positive") }
        _ = try edgeLocations()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
        guard KumoLogHandler.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be text or json") }
        guard timeScale > 0 else { throw ValidationError("--time-scale must be a positive number, e.g. 0.1") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard accountId.count == 12, accountId.allSatisfy(\.isNumber) else { throw ValidationError("--account-id must be 12 digits") }
        guard Store.Durability(rawValue: durability) != nil else { throw ValidationError("--durability must be normal or full") }
    }

    func run() async throws {
        let started = ContinuousClock.now
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = KumoLogHandler.Format(rawValue: logFormat) ?? .text
        LoggingSystem.bootstrap { label in KumoLogHandler(label: label, format: format, logLevel: level) }
        let logger = Logger(label: "kumo")

        let directory: String
        if ephemeral {
            var template = Array((NSTemporaryDirectory() + "/kumo-XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else { throw ValidationError("cannot create a temporary data dir") }
            directory = String(cString: made)
        } else {
            // Absolute, because instances run with their own working directories.
            directory = dataDir.hasPrefix("/") ? dataDir : FileManager.default.currentDirectoryPath + "/" + (dataDir.hasPrefix("./") ? String(dataDir.dropFirst(2)) : dataDir)
        }
        defer {
            if ephemeral { try? FileManager.default.removeItem(atPath: directory) }
        }

        let clock = KumoClock(timeScale: timeScale)
        let durability = Store.Durability(rawValue: durability) ?? .normal
        let opening = InBackground { try Store(directory: directory, migrations: KumoStoreSchema.migrations, baseline: KumoStoreSchema.baseline, durability: durability) }
        // While the store opens: the models' index, and the DNS sockets (53 needs privileges, so fall
        // back to 10053 and say so).
        let modelIndex: ServiceRegistry.Index
        let dnsChannels: [DNSServer.Channel]
        let dnsTCP: DNSServer.TCPChannel?
        var dnsNote = ""
        do {
            modelIndex = try ServiceRegistry.Index.load()
            do {
                (dnsChannels, dnsTCP) = try await DNSServer.bindBoth(host: host, port: dnsPort)
            } catch where dnsPort == 53 {
                (dnsChannels, dnsTCP) = try await DNSServer.bindBoth(host: host, port: 10053)
                dnsNote = " (port 53 could not be bound: \(error); using 10053)"
            }
        } catch {
            _ = try? await opening.value  // the store finishes opening before its directory may go
            throw error
        }
        let store = try await opening.value
        let sts = STSProvider(store: store, clock: clock)
        let serviceMetrics = ServiceMetrics()
        let sqs = SQSProvider(store: store, clock: clock, metrics: serviceMetrics)
        let s3 = try S3Provider(store: store, clock: clock, syncWrites: durability == .full, queues: sqs, logger: logger)
        let logs = LogsProvider(store: store, clock: clock)
        let ec2 = EC2Provider(store: store, clock: clock, logger: logger, metrics: serviceMetrics, logs: logs, credentials: sts)
        let edgeAddress = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        // Alias records to AWS resources (distributions, website endpoints, load balancers) answer with the edge.
        let resourceSuffixes = [".cloudfront.net.", ".amazonaws.com.", "." + hostSuffix.lowercased() + "."]
        let route53 = Route53Provider(
            store: store, clock: clock, region: region, locations: (try? ClientLocations(dnsClientLocations)) ?? ClientLocations(),
            metrics: serviceMetrics, logger: logger, directory: ec2,
            aliasTargets: { name, type in
            guard resourceSuffixes.contains(where: { name.lowercased().hasSuffix($0) }) else { return [] }
            return type == (edgeAddress.contains(":") ? "AAAA" : "A") ? [edgeAddress] : []
        })
        // CloudFront signs its requests to S3 origins as the service principal with a key made for this run.
        let cloudfrontKey = Identity(
            accessKeyId: ResourceID.iam("AKIAKUMOCLOUDFRONT"), secretAccessKey: ResourceID.token(length: 40), accountId: accountId,
            kind: .service, name: "cloudfront.amazonaws.com")
        let cloudfront = CloudFrontProvider(
            store: store, clock: clock, hostSuffix: hostSuffix,
            edgeConfiguration: .init(
                locations: try edgeLocations(), cacheBudget: cloudfrontCacheMb << 20, signingKeyId: cloudfrontKey.accessKeyId,
                signingSecret: cloudfrontKey.secretAccessKey),
            metrics: serviceMetrics, logger: logger, logSink: s3)
        try await cloudfront.start()
        try await route53.start()
        let listeners = ListenerBoard()
        let acm = ACMProvider(store: store, clock: clock)
        let elb = ELBProvider(
            store: store, clock: clock, hostSuffix: hostSuffix, directory: ec2, metrics: serviceMetrics, logger: logger, logSink: s3,
            logGroups: logs, certificates: acm)
        acm.addUsers(elb)
        try await elb.start()
        let listenerHost = ListenerHost(host: host, logger: logger) { label, port, tls in
            if let port { listeners.add(.init(name: label, address: "\(tls ? "https" : "http")://\(edgeAddress):\(port)")) } else { listeners.remove(label) }
        }
        elb.router.attach(binder: listenerHost, ownPorts: listenerPorts == "own")
        let cloudwatch = CloudWatchProvider(store: store, clock: clock, metrics: serviceMetrics, accountId: accountId, region: region)
        let autoscaling = AutoScalingProvider(
            store: store, clock: clock, launcher: ec2, registrar: elb, network: ec2, alarms: cloudwatch, queues: sqs, metrics: serviceMetrics)
        cloudwatch.addActionHandler(ec2)
        cloudwatch.addActionHandler(autoscaling)
        let registry = try ServiceRegistry(providers: [sts, acm, s3, sqs, route53, cloudfront, ec2, elb, cloudwatch, autoscaling, logs], index: modelIndex)
        let dnsAddress = dnsChannels[0].channel.localAddress
        if dnsTCP == nil { dnsNote += " (TCP port busy: answering over UDP only)" }
        let dns = DNSServer(
            channels: dnsChannels, tcp: dnsTCP, source: KumoNames(suffix: hostSuffix, edgeAddress: edgeAddress, zones: route53),
            upstream: try dnsUpstream.map(upstreamAddress), logger: logger)
        let credentialChain = CredentialChain([try StaticCredentials(defaultAccount: accountId, file: credentials, services: [cloudfrontKey]), sts])
        let configuration = EdgeConfiguration(
            host: host, port: port, region: region, accountId: accountId, verifySignatures: !noAuth, hostSuffix: hostSuffix)
        let edge = Edge(
            configuration: configuration, registry: registry, credentials: credentialChain, clock: clock, logger: logger,
            hostRoutes: [s3.website.route, cloudfront.edge.route, elb.router.route], pathRoutes: [ec2.metadataRoute])
        let metrics = EdgeMetrics()
        let endpoints = InternalEndpoints(
            registry: registry, metrics: metrics, version: KumoCommand.version, startedAt: started,
            serviceMetrics: serviceMetrics, listeners: { listeners.all })
        let readyFile = self.readyFile
        let dnsFallback = dnsNote
        let dnsHost = dnsAddress?.ipAddress ?? host
        let dnsBound = dnsAddress?.port ?? 0
        listeners.add(.init(name: "dns", address: "udp://\(dnsHost):\(dnsBound)"))
        let ready = ReadyGate()
        // HTTPS on the same port: certificates from the local CA for Kumo's own names (and
        // CloudFront aliases without a certificate of their own), ACM's for aliases that name one.
        // Made once the edge answers: the first start creates the certificate authority.
        let suffix = hostSuffix.lowercased()
        let edgeTLS = EdgeTLS()
        let installTLS: @Sendable () async -> Void = {
            do {
                try edgeTLS.install(defaultCertificate: try await acm.edgeCertificate(for: ["localhost", "127.0.0.1", "::1"])) { name in
                    let host = name.lowercased()
                    let viewer = cloudfront.edge.viewerCertificate(host: host, suffix: suffix)
                    if let arn = viewer.certificateArn, let certificate = await acm.serverCertificate(arn: arn) { return certificate }
                    guard viewer.served || host == suffix || host.hasSuffix("." + suffix) else { return nil }
                    return try? await acm.edgeCertificate(for: [host])
                }
            } catch {
                logger.error("HTTPS on the edge port is off: \(error)")
            }
        }
        let server = EdgeServer(
            edge: edge, internalEndpoints: endpoints, metrics: metrics, logger: logger, tls: edgeTLS,
            onRunning: { address in
                defer {
                    ready.open()
                    Task { await installTLS() }
                }
                let boundPort = address?.port ?? 0
                let url = "http://\(address?.ipAddress ?? "127.0.0.1"):\(boundPort)"
                listeners.add(.init(name: "edge", address: url))
                cloudfront.edge.setLocalEdge(host: address?.ipAddress ?? "127.0.0.1", port: boundPort)
                ec2.setEndpoint(url)
                let ms = (ContinuousClock.now - started).components.attoseconds / 1_000_000_000_000_000
                Console.out("kumo: edge listening on \(url) (ready in \(ms) ms, data in \(directory)); https:// on the same port (trust `kumo ca export`)")
                Console.out("kumo: DNS listening on \(dnsHost):\(dnsBound)/udp+tcp\(dnsFallback), answering from Route 53 hosted zones")
                Console.out("kumo: EC2 instance limits (vCPUs, memory of the instance type) \(ec2.instanceLimits.summary)")
                if let readyFile {
                    let json = JSONValue.object([
                        ("edge", .object([("host", .string(address?.ipAddress ?? "127.0.0.1")), ("port", .number(String(boundPort))), ("url", .string(url))])),
                        ("dns", .object([("host", .string(dnsHost)), ("port", .number(String(dnsBound))), ("protocol", .string("udp"))])),
                        ("pid", .number(String(getpid()))),
                        ("dataDir", .string(directory)),
                        ("instanceLimits", .string(ec2.instanceLimits.kind)),
                    ])
                    let tmp = readyFile + ".tmp"
                    _ = FileManager.default.createFile(atPath: tmp, contents: Data((json.serialized() + "\n").utf8))
                    _ = rename(tmp, readyFile)
                }
            })
        // The listeners first; the background services once the edge answers.
        let background: [(String, any Service)] = [
            ("route53.healthChecker", route53.healthChecker), ("cloudfront.logDelivery", cloudfront.logDelivery!),
            ("elb.logDelivery", elb.logDelivery!), ("elb.logShipping", elb.logShipping!), ("s3.lifecycle", LifecycleSweeper(provider: s3, logger: logger)),
            ("logs.retention", logs.retentionSweeper(logger: logger)),
            ("ec2.supervisor", ec2.supervisor), ("elb.listeners", listenerHost), ("elb.healthChecker", elb.healthChecker),
            ("cloudwatch.evaluator", cloudwatch.evaluator), ("cloudwatch.publisher", cloudwatch.publisher),
            ("autoscaling.reconciler", autoscaling.reconciler),
        ]
        // Services are named here: without a name, the group describes each service by reflecting
        // over all its members, which costs tens of milliseconds of start-up.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server, serviceName: "edge"), .init(service: dns, serviceName: "dns")]
                    + background.map { .init(service: AfterReady(gate: ready, service: $0.1), serviceName: $0.0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try store.close()
        if let readyFile { unlink(readyFile) }
        logger.info("kumo stopped")
    }
}

extension Up {
    /// `--dns-upstream`: `192.0.2.53`, `192.0.2.53:5353`, `[2001:db8::53]:53`.
    func upstreamAddress(_ text: String) throws -> SocketAddress {
        var host = text
        var port = 53
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { port = Int(rest.dropFirst()) ?? -1 }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            port = Int(text[text.index(after: colon)...]) ?? -1
        }
        guard (1...65535).contains(port) else { throw ValidationError("bad port") }
        return try SocketAddress(ipAddress: host, port: port)
    }

    /// `--cloudfront-edges`: `IAD89-C2,NRT57-P1=10.0.0.0/8+192.168.0.0/16`.
    func edgeLocations() throws -> [(name: String, blocks: [CIDR])] {
        try cloudfrontEdges.split(separator: ",").map { item in
            let parts = item.split(separator: "=", maxSplits: 1)
            let name = String(parts[0])
            let blocks = try (parts.count > 1 ? parts[1].split(separator: "+") : []).map { text in
                guard let block = CIDR(String(text)) else { throw ValidationError("--cloudfront-edges: \(text) is not an address block like 10.0.0.0/8") }
                return block
            }
            return (name, blocks)
        }
    }
}

/// The listeners that are up, for `/_kumo/health`.
final class ListenerBoard: Sendable {
    private let listeners = Mutex<[InternalEndpoints.Listener]>([])
    func add(_ l: InternalEndpoints.Listener) { listeners.withLock { $0.append(l) } }
    func remove(_ name: String) { listeners.withLock { $0.removeAll { $0.name == name } } }
    var all: [InternalEndpoints.Listener] { listeners.withLock { $0 } }
}
