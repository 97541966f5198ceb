import KumoCore
import KumoProtocols
import KumoProxy
import Logging
import NIOCore
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Router {
    /// Routes one request: the listener (by the port in Host, else 80, else the first), its
    /// rules in priority order, then the first matching rule's actions.
    /// The load balancer, listener port and action a request comes to: the listener by the port
    /// in Host (else 80, else the first), its rules in priority order, the first match's first action.
    /// `priority` is the matched rule's place for access logs ("0" for the default rule).
    func route(_ request: HostRoute.Request, listenerPort: Int?) -> (lb: Balancer, port: Int, rule: Rule?, priority: String)? {
        guard let lb = state.withLock({ $0.balancers[request.name] }) else { return nil }
        func byHost() -> Int? {
            let hostPort = request.header("Host")?.split(separator: ":").last.flatMap { Int($0) }
            return hostPort.flatMap { lb.listeners[$0] != nil ? $0 : nil } ?? (lb.listeners[80] != nil ? 80 : lb.listeners.keys.sorted().first)
        }
        guard let port = listenerPort ?? byHost(), let rules = lb.listeners[port] else { return nil }
        let index = rules.firstIndex { Self.matches($0.conditions, request) }
        let rule = index.map { rules[$0] } ?? rules.last
        let priority = index.map { $0 == rules.count - 1 ? "0" : String($0 + 1) } ?? "0"
        return (lb, port, rule, priority)
    }

    func handle(_ request: HostRoute.Request, listenerPort: Int?) async -> ProtocolResponse {
        let received = clock.now
        let started = ContinuousClock.now
        guard let (lb, port, rule, priority) = route(request, listenerPort: listenerPort) else { return Self.errorPage(503) }
        let action = rule?.actions.first
        guard await admits(lb, port: port, source: request.remoteAddress) else { return Self.refused(lb, port: port, source: request.remoteAddress) }
        noteConnection(request, lb: lb.arn)
        let type = action?["Type"]?.string
        if type == "forward", let rule,
            let exchange = TargetExchange(router: self, rule: rule, request: request, lb: lb, port: port, priority: priority)
        {
            return await forward(exchange)
        }
        let response: ProtocolResponse
        switch type {
        case "fixed-response":
            let c = action?["FixedResponseConfig"]
            var r = ProtocolResponse(status: Int(c?["StatusCode"]?.string ?? "200") ?? 200, headers: [], body: Array((c?["MessageBody"]?.string ?? "").utf8))
            r.headers.append(("Content-Type", c?["ContentType"]?.string ?? "text/plain; charset=utf-8"))
            r.headers.append(("Server", "awselb/2.0"))
            response = r
        case "redirect":
            response = Self.redirect(action?["RedirectConfig"] ?? .empty, request: request, port: port, scheme: lb.scheme(port))
        default:
            // A forward action with no healthy target, or no action at all.
            response = Self.errorPage(503)
        }
        record(
            request, lb: lb, port: port, action: type ?? "-", priority: priority, trace: ForwardTrace(), status: response.status,
            sent: response.bodyStream?.length.map(Int.init) ?? response.body.count,
            location: response.headers.first { $0.name == "Location" }?.value,
            byBalancer: type != "fixed-response", received: received, started: started)
        return response
    }

    /// The request's place in the metrics (RequestCount, HTTPCode_ELB_5XX_Count) and the access logs.
    /// `byBalancer`: the balancer answered itself (an error page, a redirect) rather than a target.
    func record(
        _ request: HostRoute.Request, lb: Balancer, port: Int, action: String, priority: String, trace: ForwardTrace, status: Int, sent: Int,
        location: String?, byBalancer: Bool, received: Date, started: ContinuousClock.Instant
    ) {
        lb.counters.requestCount.add(1)
        if byBalancer && status >= 500 { lb.counters.elb5xx.add(1) }
        let fed = logFeed?.wants(lb.feedQuota) == true
        guard lb.accessLogs != nil || fed else { return }
        let elapsed = ContinuousClock.now - started
        let entry = AccessLogEntry(
            request: request, status: status, sent: sent, location: location, lb: lb, port: port, action: action, priority: priority,
            trace: trace, received: received, seconds: elapsed.inSeconds)
        if let logs = lb.accessLogs { accessLogs.append(entry.line, to: .init(bucket: logs.bucket, prefix: logs.prefix, source: lb.arn)) }
        if fed { logFeed?.append(entry, balancer: lb.arn) }
    }

    /// The byte relay's fast path (on a listener port, or on the edge for the balancer's DNS
    /// name): a request a forward rule sends to a healthy target, whose client the security
    /// groups are known to admit. Anything else (and a client whose admission is not decided
    /// yet) goes to `handle`.
    func exchange(for request: HostRoute.Request, listenerPort: Int?) -> TargetExchange? {
        guard let (lb, port, rule, priority) = route(request, listenerPort: listenerPort), let rule, rule.forwards,
            admitsNow(lb, port: port, source: request.remoteAddress),
            let exchange = TargetExchange(router: self, rule: rule, request: request, lb: lb, port: port, priority: priority)
        else { return nil }
        noteConnection(request, lb: lb.arn)
        return exchange
    }

    /// Rule conditions: every condition must match; the values within one are alternatives.
    static func matches(_ conditions: [ShapeValue], _ request: HostRoute.Request) -> Bool {
        conditions.allSatisfy { c in
            func values(_ config: String) -> [String] { (c[config]?["Values"]?.list ?? c["Values"]?.list ?? []).compactMap(\.string) }
            switch c["Field"]?.string {
            case "path-pattern":
                return values("PathPatternConfig").contains { Wildcard.matches($0, FormEncoding.unescape(Substring(request.path), plus: false)) }
            case "host-header":
                let host = (request.header("Host") ?? "").split(separator: ":").first.map { $0.lowercased() } ?? ""
                return values("HostHeaderConfig").contains { Wildcard.matches($0.lowercased(), host) }
            case "http-request-method":
                return values("HttpRequestMethodConfig").contains(request.method)
            case "http-header":
                let name = c["HttpHeaderConfig"]?["HttpHeaderName"]?.string ?? ""
                let have = request.headers.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
                return values("HttpHeaderConfig").contains { v in have.contains { Wildcard.matches(v.lowercased(), $0.lowercased()) } }
            case "query-string":
                let pairs = c["QueryStringConfig"]?["Values"]?.list ?? []
                return pairs.contains { p in
                    let key = p["Key"]?.string
                    let value = p["Value"]?.string ?? "*"
                    return request.query.contains { q in (key == nil || q.name == key) && Wildcard.matches(value, q.value) }
                }
            case "source-ip":
                return values("SourceIpConfig").contains { CIDR($0)?.contains(request.remoteAddress ?? "") ?? false }
            default:
                return false
            }
        }
    }

    static func redirect(_ c: ShapeValue, request: HostRoute.Request, port: Int, scheme: String) -> ProtocolResponse {
        let host = (request.header("Host") ?? "").split(separator: ":").first.map(String.init) ?? ""
        let query = request.queryString
        func fill(_ template: String?, _ fallback: String) -> String {
            (template ?? fallback).replacing("#{protocol}", with: scheme).replacing("#{host}", with: host)
                .replacing("#{port}", with: String(port)).replacing("#{path}", with: String(request.path.dropFirst()))
                .replacing("#{query}", with: query)
        }
        let proto = fill(c["Protocol"]?.string, "#{protocol}").lowercased()
        let targetPort = fill(c["Port"]?.string, "#{port}")
        let defaultPort = (proto == "https" && targetPort == "443") || (proto == "http" && targetPort == "80")
        var location = proto + "://" + fill(c["Host"]?.string, "#{host}") + (defaultPort ? "" : ":" + targetPort)
        location += "/" + fill(c["Path"]?.string, "/#{path}").drop { $0 == "/" }
        let q = fill(c["Query"]?.string, "#{query}")
        if !q.isEmpty { location += "?" + q }
        return ProtocolResponse(
            status: c["StatusCode"]?.string == "HTTP_302" ? 302 : 301, headers: [("Location", location), ("Server", "awselb/2.0")], body: [])
    }

    /// The target groups a forward action sends to, with their weights.
    static func forwardGroups(_ action: ShapeValue) -> [(arn: String, weight: Int)] {
        let weighted = (action["ForwardConfig"]?["TargetGroups"]?.list ?? []).compactMap { t -> (String, Int)? in
            t["TargetGroupArn"]?.string.map { ($0, t["Weight"]?.int ?? 1) }
        }
        if weighted.isEmpty, let one = action["TargetGroupArn"]?.string { return [(one, 1)] }
        return weighted
    }

    /// The load balancers with a listener rule that forwards to the target group.
    static func balancers(forwardingTo group: String, in snapshot: Snapshot) -> [String] {
        snapshot.balancers.values.filter { lb in
            lb.listeners.values.contains { rules in
                rules.contains { rule in rule.actions.contains { forwardGroups($0).contains { $0.0 == group } } }
            }
        }.map(\.arn)
    }

    /// A healthy target of the rule's target group (weighted when several; sticky when set), and
    /// how many of the group's targets are healthy.
    func choose(_ rule: Rule, request: HostRoute.Request) -> (
        arn: String, group: Group, target: (id: String, port: Int, address: String), healthy: Int
    )? {
        let weighted = rule.forward
        let total = weighted.reduce(0) { $0 + $1.weight }
        // (Not the system generator: that is a system call per request.)
        var roll = weighted.count > 1 && total > 0 ? Int(UniqueRandom.next() % UInt64(total)) : 0
        var chosen = weighted.first?.0
        for (arn, w) in weighted {
            if roll < w { chosen = arn; break }
            roll -= w
        }
        // Target group stickiness: the group the client's AWSALBTG cookie names, while the rule still
        // sends it requests and it has a healthy target.
        if rule.groupStickiness != nil, let held = Self.stickyGroup(request), weighted.contains(where: { $0.arn == held && $0.weight > 0 }),
            health.healthyCount(group: held).healthy > 0
        {
            chosen = held
        }
        guard let arn = chosen, let group = state.withLock({ $0.groups[arn] }) else { return nil }
        if let sticky = stickyTarget(request, group: group) { return (arn, group, sticky, health.healthyCount(group: arn).healthy) }
        guard let picked = health.pick(group: arn, targets: group.targets, leastOutstanding: group.leastOutstanding, slowStart: group.slowStart) else {
            return nil
        }
        return (arn, group, (picked.id, picked.port, picked.address), picked.healthy)
    }

    /// The request's headers as a target gets them: `X-Forwarded-For/-Proto/-Port` set by the balancer.
    func forwardedHeaders(_ request: HostRoute.Request, lb: Balancer, port: Int, keep: Set<String> = []) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(request.headers.count + 4)
        var forwardedFor: String?
        for h in request.headers {
            let name = h.name.lowercased()
            switch name {
            case "x-forwarded-for": if forwardedFor == nil { forwardedFor = h.value }
            case "x-forwarded-proto", "x-forwarded-port", "content-length": break
            default: if keep.contains(name) || !hopByHopHeaders.contains(name) { headers.append(h) }
            }
        }
        // routing.http.xff_header_processing.mode: the client's address appended (AWS's default), the
        // header passed as it came, or removed.
        switch lb.forwardedForMode {
        case "remove":
            break
        case "preserve":
            if let forwardedFor { headers.append(("X-Forwarded-For", forwardedFor)) }
        default:
            if let client = request.remoteAddress { forwardedFor = forwardedFor.map { $0 + ", " + client } ?? client }
            headers.append(("X-Forwarded-For", forwardedFor ?? ""))
        }
        headers.append(("X-Forwarded-Proto", request.secure ? "https" : lb.scheme(port)))
        headers.append(("X-Forwarded-Port", String(port)))
        return headers
    }

    /// Where a connection upgrade (WebSocket) goes: a healthy target of the forward action, and
    /// the request head to open it with (the `Upgrade` and `Connection` headers kept).
    func upgradeTarget(_ request: HostRoute.Request, listenerPort: Int?) async -> UpgradeTarget? {
        guard let (lb, port, rule, _) = route(request, listenerPort: listenerPort), let rule, rule.forwards,
            await admits(lb, port: port, source: request.remoteAddress), let (arn, group, target, healthy) = choose(rule, request: request)
        else { return nil }
        countForTargetGroup(group, counters: lb.groupCounters[arn], healthy: healthy)
        lb.counters.requestCount.add(1)
        let query = request.queryString
        var head = "\(request.method) \(request.path)\(query.isEmpty ? "" : "?" + query) HTTP/1.1\r\n"
        for (name, value) in forwardedHeaders(request, lb: lb, port: port, keep: ["upgrade", "connection"]) { head += "\(name): \(value)\r\n" }
        return UpgradeTarget(host: target.address, port: target.port, head: head + "\r\n")
    }

    /// Sends the request to its target and reads the answer's head (and a small body whole).
    func forward(_ exchange: TargetExchange) async -> ProtocolResponse {
        let request = exchange.request
        let upstream = UpstreamRequest(method: request.method, target: exchange.requestTarget, headers: exchange.headers, body: request.body)
        do {
            var answer: UpstreamResponse
            while true {
                do {
                    answer = try await client.execute(upstream, host: exchange.host, port: exchange.port, readTimeout: .seconds(Int64(exchange.readTimeout)))
                    break
                } catch UpstreamError.connectFailed(let reason) {
                    // Nothing reached the target, so another healthy one may take the request.
                    guard exchange.retarget() else { throw UpstreamError.connectFailed(reason) }
                }
            }
            var response = ProtocolResponse(status: answer.status, headers: answer.headers.filter { !hopByHopHeaders.contains($0.name.lowercased()) }, body: [])
            response.headers += exchange.answered(status: answer.status, headers: { answer.headers })
            let body = answer.body
            if request.method == "HEAD" || answer.status == 204 || answer.status == 304 {
                await answer.discard()
                exchange.finished(status: answer.status, bodyBytes: 0)
            } else if let length = body.length, length <= Self.bufferedBodyLimit {
                // A small body is read whole, so head and body leave in one write to the client.
                var buffer = ByteBuffer()
                buffer.reserveCapacity(Int(length))
                try await body.forEach { part in buffer.writeImmutableBuffer(part) }
                exchange.finished(status: answer.status, bodyBytes: buffer.readableBytes)
                response.bodyStream = ByteStream(buffer: buffer)
            } else {
                let status = answer.status
                let done = ByteCount()
                response.bodyStream = ByteStream(length: body.length) { sink in
                    defer { exchange.finished(status: status, bodyBytes: done.value) }
                    try await body.forEach { part in
                        done.add(part.readableBytes)
                        try await sink(part)
                    }
                }
            }
            return response
        } catch {
            logger.debug("target request failed", metadata: ["target": "\(exchange.host):\(exchange.port)", "error": "\(error)"])
            let failed = exchange.failure(error as? UpstreamError == .timedOut ? 504 : 502)
            exchange.finished(status: failed.status, bodyBytes: failed.body.count)
            return failed
        }
    }

    /// The target a stickiness cookie (`AWSALB`, `AWSALBCORS` or `AWSALBAPP-0`) holds this client
    /// to, while it is registered and healthy.
    func stickyTarget(_ request: HostRoute.Request, group: Group) -> (id: String, port: Int, address: String)? {
        guard let stickiness = group.stickiness else { return nil }
        let value = stickiness.appCookie != nil ? Self.cookie("AWSALBAPP-0", in: request) : Self.cookie("AWSALB", in: request) ?? Self.cookie("AWSALBCORS", in: request)
        guard let value, let decoded = Data(base64Encoded: value).map({ String(decoding: $0, as: UTF8.self) }) else { return nil }
        let parts = decoded.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == group.arn, let port = Int(parts[2]), group.targets.contains(where: { $0.id == parts[1] && $0.port == port }),
            let entry = health.entry(group: group.arn, id: parts[1], port: port), entry.state == "healthy", let address = entry.address
        else { return nil }
        return (parts[1], port, address)
    }

    /// The cookies that hold the client to `target`: `AWSALB` and `AWSALBCORS` for `lb_cookie`;
    /// `AWSALBAPP-0` for `app_cookie`, only when the target's answer sets the application cookie.
    func stickyCookies(
        group: String, target: (id: String, port: Int, address: String), stickiness: Stickiness, answer: [(name: String, value: String)]
    ) -> [(String, String)] {
        let value = Data("\(group)|\(target.id)|\(target.port)".utf8).base64EncodedString()
        let expires = Timestamp.httpDate(clock.now.addingTimeInterval(Double(stickiness.seconds)))
        if let app = stickiness.appCookie {
            let setsIt = answer.contains { $0.name.caseInsensitiveEquals("Set-Cookie") && $0.value.split(separator: "=", maxSplits: 1).first?.trimmingSpaces == app }
            return setsIt ? [("Set-Cookie", "AWSALBAPP-0=\(value); Expires=\(expires); Path=/")] : []
        }
        return Self.cookiePair("AWSALB", value: value, expires: expires)
    }

    /// A balancer cookie and its `CORS` twin (sent on cross-site requests too).
    static func cookiePair(_ name: String, value: String, expires: String) -> [(String, String)] {
        [
            ("Set-Cookie", "\(name)=\(value); Expires=\(expires); Path=/"),
            ("Set-Cookie", "\(name)CORS=\(value); Expires=\(expires); Path=/; SameSite=None"),
        ]
    }

    /// The target group an `AWSALBTG` (or `AWSALBTGCORS`) cookie names.
    static func stickyGroup(_ request: HostRoute.Request) -> String? {
        guard let value = cookie("AWSALBTG", in: request) ?? cookie("AWSALBTGCORS", in: request), let data = Data(base64Encoded: value) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The cookies that hold the client to the target group it was sent to, for `seconds`.
    func groupCookies(group: String, seconds: Int) -> [(name: String, value: String)] {
        let expires = Timestamp.httpDate(clock.now.addingTimeInterval(Double(seconds)))
        return Self.cookiePair("AWSALBTG", value: Data(group.utf8).base64EncodedString(), expires: expires).map { (name: $0.0, value: $0.1) }
    }

    static func cookie(_ name: String, in request: HostRoute.Request) -> String? {
        for header in request.headers where header.name.caseInsensitiveEquals("Cookie") {
            for pair in header.value.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingSpaces == name { return kv[1].trimmingSpaces }
            }
        }
        return nil
    }

    /// Responses up to this size with a known length are read whole before they are answered.
    static let bufferedBodyLimit: Int64 = 64 << 10

    /// `targetgroup/name/hex` — the TargetGroup dimension of ALB metrics.
    static func groupDimension(_ arn: String) -> String { String(arn.split(separator: ":").last ?? "") }

    /// `app/name/hex` — the LoadBalancer dimension of ALB metrics.
    static func dimension(_ arn: String) -> String {
        let resource = arn.asciiSplit(UInt8(ascii: ":")).last ?? ""
        let prefix = "loadbalancer/"
        return resource.hasPrefix(prefix) ? String(resource.utf8.dropFirst(prefix.utf8.count))! : String(resource)
    }

    /// Whether the load balancer's security groups let the client in on the listener's port
    /// (a balancer created without security groups lets everyone in). Decisions hold for a second.
    func admits(_ lb: Balancer, port: Int, source: String?) async -> Bool {
        if let known = knownAdmission(lb, port: port, source: source) { return known }
        guard let source else { return false }
        let allowed = await directory.ingressAllows(groups: lb.securityGroups, source: source, port: port)
        admissions.withLock { a in
            if a.count > 10_000 { a.removeAll() }
            a[Self.admissionKey(lb, port: port, source: source)] = (allowed, .now + .seconds(1))
        }
        return allowed
    }

    /// Whether the security groups are known to let the client in now, without asking the
    /// directory: no groups, or a decision from the last second that allowed it.
    func admitsNow(_ lb: Balancer, port: Int, source: String?) -> Bool { knownAdmission(lb, port: port, source: source) == true }

    /// The decision that needs no asking (no groups, no source, or one from the last second); nil otherwise.
    private func knownAdmission(_ lb: Balancer, port: Int, source: String?) -> Bool? {
        guard !lb.securityGroups.isEmpty else { return true }
        guard let source else { return false }
        guard let known = admissions.withLock({ $0[Self.admissionKey(lb, port: port, source: source)] }), known.until > .now else { return nil }
        return known.allowed
    }

    private static func admissionKey(_ lb: Balancer, port: Int, source: String) -> String { lb.arn + "|" + String(port) + "|" + source }

    /// Bytes of headers as they go on the wire (`name: value` and the line end).
    static func headerBytes(_ headers: [(name: String, value: String)]) -> Int {
        headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }

    /// What a client the security groups keep out gets (on AWS its connection would go unanswered).
    static func refused(_ lb: Balancer, port: Int, source: String?) -> ProtocolResponse {
        let text = "Kumo: the security groups of this load balancer (\(lb.securityGroups.joined(separator: ", "))) do not allow "
            + "\(source ?? "this client") in on port \(port). On AWS the connection would not be answered.\n"
        return ProtocolResponse(status: 403, headers: [("Content-Type", "text/plain"), ("Server", "awselb/2.0")], body: Array(text.utf8))
    }

    /// Counts a client connection the first time it carries a request (NewConnectionCount) and
    /// remembers when it last did (ActiveConnectionCount).
    func noteConnection(_ request: HostRoute.Request, lb: String) {
        guard let metrics, let port = request.remotePort, let address = request.remoteAddress else { return }
        let key = ClientAddress(address: address, port: port)
        let now = ContinuousClock.now
        let isNew = clientConnections.withLock { all -> Bool in
            let fresh = all[lb, default: [:]].updateValue(now, forKey: key) == nil
            // Many short connections: keep only the last second's, so memory stays bounded.
            if fresh, all[lb]!.count > 50_000 { all[lb] = all[lb]!.filter { now - $0.value < .seconds(1) } }
            return fresh
        }
        if isNew {
            metrics.add(1, to: MetricKey(namespace: "AWS/ApplicationELB", name: "NewConnectionCount", dimensions: [("LoadBalancer", Self.dimension(lb))]))
        }
    }

    /// ActiveConnectionCount per load balancer: client connections that carried a request in the
    /// last (scaled) minute; connections quiet for longer are forgotten.
    func activeConnections() -> [(MetricKey, Double)] {
        let now = ContinuousClock.now
        let window = clock.duration(awsSeconds: 60)
        return clientConnections.withLock { all in
            var out: [(MetricKey, Double)] = []
            for (lb, connections) in all {
                let recent = connections.filter { now - $0.value <= window }
                all[lb] = recent.isEmpty ? nil : recent
                out.append((MetricKey(namespace: "AWS/ApplicationELB", name: "ActiveConnectionCount", dimensions: [("LoadBalancer", Self.dimension(lb))]), Double(recent.count)))
            }
            return out
        }
    }

    /// RequestCount per target group, and RequestCountPerTarget: each request counts as
    /// 1 / (healthy targets), so a period's sum is the requests each target received on average
    /// (what ALBRequestCountPerTarget target tracking follows).
    func countForTargetGroup(_ group: Group, counters: MetricCounters?, healthy: Int) {
        counters?.requestCount.add(1)
        group.perTarget.add(1 / Double(Swift.max(1, healthy)))
    }

    static func errorPage(_ status: Int) -> ProtocolResponse {
        let title = [502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out"][status] ?? "\(status)"
        let html = "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n</body>\r\n</html>\r\n"
        return ProtocolResponse(status: status, headers: [("Content-Type", "text/html"), ("Server", "awselb/2.0")], body: Array(html.utf8))
    }
}
