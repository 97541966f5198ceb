import Synchronization

/// One AWS metric series: namespace, name and dimensions (`AWS/SQS`, `NumberOfMessagesSent`, `QueueName=jobs`).
public struct MetricKey: Hashable, Sendable {
    public let namespace: String
    public let name: String
    /// Dimension name and value pairs, sorted by name.
    public let dimensions: [String]
    /// Worked out once: data planes add to the same series thousands of times a second.
    private let hash: Int

    public init(namespace: String, name: String, dimensions: [(String, String)]) {
        self.namespace = namespace
        self.name = name
        self.dimensions = dimensions.sorted { $0.0 < $1.0 }.map { $0.0 + "=" + $0.1 }
        var hasher = Hasher()
        hasher.combine(namespace)
        hasher.combine(name)
        hasher.combine(self.dimensions)
        hash = hasher.finalize()
    }

    public static func == (a: MetricKey, b: MetricKey) -> Bool {
        a.hash == b.hash && a.namespace == b.namespace && a.name == b.name && a.dimensions == b.dimensions
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}

/// The one interface through which services publish the metrics AWS would send to
/// CloudWatch (queue depths, messages sent, ...). CloudWatch reads them from here;
/// until then `/_kumo/metrics` shows them.
public final class ServiceMetrics: Sendable {
    private struct State {
        var counters: [MetricKey: Double] = [:]
        var gaugeSources: [@Sendable () async -> [(MetricKey, Double)]] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Adds to a counter (a metric AWS reports as a Sum: NumberOfMessagesSent).
    public func add(_ value: Double, to key: MetricKey) {
        state.withLock { $0.counters[key, default: 0] += value }
    }

    /// Registers a source of gauges, read when metrics are collected (queue depths).
    public func addGauges(_ source: @escaping @Sendable () async -> [(MetricKey, Double)]) {
        state.withLock { $0.gaugeSources.append(source) }
    }

    /// Every counter's running total and every gauge's current value.
    public func collect() async -> (counters: [(MetricKey, Double)], gauges: [(MetricKey, Double)]) {
        let (counters, sources) = state.withLock { s in (Array(s.counters), s.gaugeSources) }
        var gauges: [(MetricKey, Double)] = []
        for source in sources { gauges += await source() }
        return (counters.map { ($0.key, $0.value) }, gauges)
    }
}
