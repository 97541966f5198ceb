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

/// One counter's running total, held by whoever adds to it often: adding is one atomic
/// update, with no lock and no lookup by key.
public final class MetricCounter: Sendable {
    public let key: MetricKey
    /// The total's bits (a Double), or `never` until the first add: a series nothing was
    /// added to is not reported, as AWS reports none for it.
    private let bits = Atomic<UInt64>(MetricCounter.never)
    private static let never = UInt64.max

    /// A counter of its own; `ServiceMetrics.counter(_:)` gives the one that is collected.
    public init(_ key: MetricKey) { self.key = key }

    public func add(_ value: Double) {
        var old = bits.load(ordering: .relaxed)
        while true {
            let total = (old == Self.never ? 0 : Double(bitPattern: old)) + value
            let (done, seen) = bits.weakCompareExchange(expected: old, desired: total.bitPattern, ordering: .relaxed)
            if done { return }
            old = seen
        }
    }

    /// The total, or nil when nothing was ever added.
    public var value: Double? {
        let now = bits.load(ordering: .relaxed)
        return now == Self.never ? nil : Double(bitPattern: now)
    }
}

/// The one interface through which services publish the metrics AWS would send to
/// CloudWatch (queue depths, messages sent, ...). CloudWatch reads them from here;
/// until then `/_kumo/metrics` shows them.
public final class ServiceMetrics: Sendable {
    private struct State {
        var counters: [MetricKey: MetricCounter] = [:]
        var gaugeSources: [@Sendable () async -> [(MetricKey, Double)]] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// The counter of a series, made on first use: a data plane keeps it and adds to it directly.
    public func counter(_ key: MetricKey) -> MetricCounter {
        state.withLock { s in
            if let counter = s.counters[key] { return counter }
            let counter = MetricCounter(key)
            s.counters[key] = counter
            return counter
        }
    }

    /// Adds to a counter (a metric AWS reports as a Sum: NumberOfMessagesSent).
    public func add(_ value: Double, to key: MetricKey) {
        counter(key).add(value)
    }

    /// Registers a source of gauges, read when metrics are collected (queue depths).
    public func addGauges(_ source: @escaping @Sendable () async -> [(MetricKey, Double)]) {
        state.withLock { s in s.gaugeSources.append(source) }
    }

    /// Every counter's running total and every gauge's current value.
    public func collect() async -> (counters: [(MetricKey, Double)], gauges: [(MetricKey, Double)]) {
        let (counters, sources) = state.withLock { s in (Array(s.counters.values), s.gaugeSources) }
        var gauges: [(MetricKey, Double)] = []
        for source in sources { gauges += await source() }
        return (counters.compactMap { c in c.value.map { (c.key, $0) } }, gauges)
    }
}
