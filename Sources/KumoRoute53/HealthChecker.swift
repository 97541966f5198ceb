import KumoCore
import KumoProtocols
import KumoProxy
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// Route 53's health checkers: every health check's endpoint is probed on its request
/// interval (10 or 30 seconds, shortened by `--time-scale`) and each result is counted
/// against its failure threshold. HTTP checks pass on a 2xx or 3xx answer (and, for the
/// `_STR_MATCH` types, the search string in the first 5,120 bytes of the body); TCP checks on
/// an open connection; calculated checks on enough healthy children. The network waits are
/// AWS's (4 s to connect, 2 s for the answer) and are not shortened by the time scale. HTTPS checks
/// speak TLS and, as on AWS, do not validate the endpoint's certificate.
public struct HealthChecker: Service {
    let board: HealthBoard
    let clock: KumoClock
    let client: UpstreamClient
    let logger: Logger

    init(board: HealthBoard, clock: KumoClock, logger: Logger) {
        self.board = board
        self.clock = clock
        self.logger = logger
        client = UpstreamClient(configuration: .init(connectTimeout: .seconds(4), readTimeout: .seconds(2), maxIdlePerHost: 0))
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { probes in
                while !Task.isCancelled {
                    for check in board.checks where check.config["Disabled"]?.bool != true {
                        let type = check.config["Type"]?.string ?? ""
                        if type == "CALCULATED" {
                            board.evaluateCalculated(check, at: clock.now)
                            continue
                        }
                        guard let status = board.status(check.id), !status.checking else { continue }
                        let interval = clock.duration(awsSeconds: Double(check.config["RequestInterval"]?.int ?? 30))
                        if let last = status.lastCheck, ContinuousClock.now - last < interval { continue }
                        board.update(check.id) { $0.lastCheck = .now; $0.checking = true }
                        probes.addTask {
                            let (passed, text) = await probe(check.config)
                            board.record(check.id, passed: passed, text: text, at: clock.now)
                            board.update(check.id) { $0.checking = false }
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                probes.cancelAll()
            }
        }
    }

    /// One probe of an endpoint: whether it passed, and the status text Route 53 reports.
    func probe(_ config: ShapeValue) async -> (Bool, String) {
        let type = config["Type"]?.string ?? "HTTP"
        let host = config["IPAddress"]?.string ?? config["FullyQualifiedDomainName"]?.string ?? ""
        let secure = type.hasPrefix("HTTPS")
        let port = config["Port"]?.int ?? (secure ? 443 : 80)
        if type == "TCP" { return await connects(host: host, port: port) }
        let path = config["ResourcePath"]?.string ?? "/"
        let hostHeader = config["FullyQualifiedDomainName"]?.string ?? host
        let request = UpstreamRequest(
            method: "GET", target: path.hasPrefix("/") ? path : "/" + path,
            headers: [
                ("Host", port == (secure ? 443 : 80) ? hostHeader : "\(hostHeader):\(port)"),
                ("User-Agent", "Amazon-Route53-Health-Check-Service (ref kumo; report http://amzn.to/1vsZADi)"),
                ("Connection", "close"),
            ])
        do {
            // HTTPS checks send the domain name for SNI when EnableSNI says so, and do not check the certificate.
            let tls = secure
                ? UpstreamClient.TLS(
                    serverName: config["EnableSNI"]?.bool == false ? nil : config["FullyQualifiedDomainName"]?.string, verifyCertificate: false)
                : nil
            let answer = try await client.execute(request, host: host, port: port, readTimeout: .seconds(2), tls: tls)
            let reason = HTTPResponseStatus(statusCode: answer.status).reasonPhrase
            let code = "HTTP Status Code \(answer.status), \(reason)"
            guard (200..<400).contains(answer.status) else {
                await answer.discard()
                return (false, "Failure: \(code). Resolved IP: \(host)")
            }
            if type.hasSuffix("_STR_MATCH") {
                var body: [UInt8] = []
                try await answer.body.forEach { buffer in
                    if body.count < 5120 { body += buffer.readableBytesView.prefix(5120 - body.count) }
                }
                let search = Array((config["SearchString"]?.string ?? "").utf8)
                guard Self.contains(body, search) else {
                    return (false, "Failure: \(code). The response body did not contain the search string. Resolved IP: \(host)")
                }
            } else {
                await answer.discard()
            }
            return (true, "Success: \(code)")
        } catch UpstreamError.timedOut {
            return (false, "Failure: The request timed out. Resolved IP: \(host)")
        } catch {
            return (false, "Failure: Connection refused. The endpoint or the internet connection is down, or requests are being blocked by your firewall. Resolved IP: \(host)")
        }
    }

    func connects(host: String, port: Int) async -> (Bool, String) {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port)
                .get()
            try? await channel.close()
            return (true, "Success: TCP connection established")
        } catch {
            return (false, "Failure: Connection refused. The endpoint or the internet connection is down, or requests are being blocked by your firewall. Resolved IP: \(host)")
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}
