public import KumoCore
public import KumoProtocols
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Kumo's own endpoints under `/_kumo/` (no bucket name can start with `_`).
public struct InternalEndpoints: Sendable {
    public struct Listener: Sendable {
        public var name: String
        public var address: String
        public init(name: String, address: String) { self.name = name; self.address = address }
    }

    let registry: ServiceRegistry
    let metrics: EdgeMetrics
    let version: String
    let startedAt: ContinuousClock.Instant
    let listeners: @Sendable () -> [Listener]
    let serviceMetrics: ServiceMetrics?

    public init(
        registry: ServiceRegistry, metrics: EdgeMetrics, version: String, startedAt: ContinuousClock.Instant,
        serviceMetrics: ServiceMetrics? = nil, listeners: @escaping @Sendable () -> [Listener]
    ) {
        self.registry = registry
        self.metrics = metrics
        self.serviceMetrics = serviceMetrics
        self.version = version
        self.startedAt = startedAt
        self.listeners = listeners
    }

    /// Services' AWS metrics as Prometheus series: `kumo_aws_metric{namespace=...,metric=...,<dimension>=...}`.
    static func prometheus(_ collected: (counters: [(MetricKey, Double)], gauges: [(MetricKey, Double)])) -> String {
        func line(_ family: String, _ key: MetricKey, _ value: Double) -> String {
            var labels = ["namespace=\"\(key.namespace)\"", "metric=\"\(key.name)\""]
            for d in key.dimensions {
                let parts = d.split(separator: "=", maxSplits: 1)
                let value = parts.count > 1 ? parts[1].replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") : ""
                labels.append("\(parts[0])=\"\(value)\"")
            }
            return "\(family){\(labels.joined(separator: ","))} \(value)\n"
        }
        var out = "# TYPE kumo_aws_metric_total counter\n"
        for (k, v) in collected.counters.sorted(by: { "\($0.0)" < "\($1.0)" }) { out += line("kumo_aws_metric_total", k, v) }
        out += "# TYPE kumo_aws_metric gauge\n"
        for (k, v) in collected.gauges.sorted(by: { "\($0.0)" < "\($1.0)" }) { out += line("kumo_aws_metric", k, v) }
        return out
    }

    static func json(_ status: Int, _ value: JSONValue) -> ProtocolResponse {
        ProtocolResponse(status: status, headers: [("Content-Type", "application/json")], body: Array((value.serialized() + "\n").utf8))
    }

    public func handle(_ request: EdgeRequest) async -> ProtocolResponse {
        let path = request.rawPath
        let query = FormEncoding.decode(Substring(request.rawQuery))
        switch (request.method, path) {
        case ("GET", "/_kumo/health"), ("HEAD", "/_kumo/health"):
            let uptime = ContinuousClock.now - startedAt
            let seconds = uptime.inSeconds
            let services: [(String, JSONValue)] = registry.entries.keys.sorted().map { name in
                (name, .string(registry.provider(name) == nil ? "not implemented" : "running"))
            }
            return Self.json(
                200,
                .object([
                    ("status", .string("running")),
                    ("version", .string(version)),
                    ("uptimeSeconds", .number(String(format: seconds))),
                    ("listeners", .array(listeners().map { .object([("name", .string($0.name)), ("address", .string($0.address))]) })),
                    ("services", .object(services)),
                ]))
        case ("POST", "/_kumo/reset"):
            let only = query.first { $0.0 == "service" }?.1
            let names = only.map { [$0] } ?? registry.providerNames
            for name in names {
                guard let provider = registry.provider(name) else {
                    return Self.json(400, .object([("error", .string("no running service named \(name)"))]))
                }
                do { try await provider.reset() } catch {
                    return Self.json(500, .object([("error", .string("resetting \(name) failed: \(error)"))]))
                }
            }
            return Self.json(200, .object([("reset", .array(names.map { .string($0) }))]))
        case ("GET", "/_kumo/metrics"):
            var text = metrics.prometheusText()
            if let serviceMetrics { text += Self.prometheus(await serviceMetrics.collect()) }
            return ProtocolResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(text.utf8))
        default:
            return Self.json(404, .object([("error", .string("no Kumo endpoint \(request.method) \(path)"))]))
        }
    }
}

extension String {
    init(format seconds: Double) {
        self = String((seconds * 1000).rounded() / 1000)
    }
}
