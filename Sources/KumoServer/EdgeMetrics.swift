import Synchronization

/// The edge's own metrics, rendered as Prometheus text at `/_kumo/metrics`.
public final class EdgeMetrics: Sendable {
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Key: Hashable { var service: String; var operation: String; var status: Int }
    struct OpKey: Hashable { var service: String; var operation: String }
    struct Histogram { var counts = [UInt64](repeating: 0, count: EdgeMetrics.buckets.count); var sum = 0.0; var count: UInt64 = 0 }
    struct State {
        var requests: [Key: UInt64] = [:]
        var latency: [OpKey: Histogram] = [:]
    }

    private let state = Mutex(State())
    private let inFlight = Atomic<Int>(0)
    private let connections = Atomic<Int>(0)

    public init() {}

    public func requestStarted() { inFlight.add(1, ordering: .relaxed) }

    public func requestFinished(service: String, operation: String, status: Int, seconds: Double) {
        inFlight.subtract(1, ordering: .relaxed)
        state.withLock { s in
            s.requests[Key(service: service, operation: operation, status: status), default: 0] += 1
            var h = s.latency[OpKey(service: service, operation: operation)] ?? Histogram()
            for (i, b) in Self.buckets.enumerated() where seconds <= b { h.counts[i] += 1 }
            h.sum += seconds
            h.count += 1
            s.latency[OpKey(service: service, operation: operation)] = h
        }
    }

    public func connectionOpened() { connections.add(1, ordering: .relaxed) }
    public func connectionClosed() { connections.subtract(1, ordering: .relaxed) }

    public var openConnections: Int { connections.load(ordering: .relaxed) }
    public var inFlightRequests: Int { inFlight.load(ordering: .relaxed) }

    public func prometheusText() -> String {
        let s = state.withLock { $0 }
        var out = "# HELP kumo_requests_total AWS API requests answered by the edge.\n# TYPE kumo_requests_total counter\n"
        for (k, v) in s.requests.sorted(by: { "\($0.key.service)\($0.key.operation)\($0.key.status)" < "\($1.key.service)\($1.key.operation)\($1.key.status)" }) {
            out += "kumo_requests_total{service=\"\(k.service)\",operation=\"\(k.operation)\",status=\"\(k.status)\"} \(v)\n"
        }
        out += "# HELP kumo_request_duration_seconds Time from a request's arrival to its response.\n# TYPE kumo_request_duration_seconds histogram\n"
        for (k, h) in s.latency.sorted(by: { "\($0.key.service)\($0.key.operation)" < "\($1.key.service)\($1.key.operation)" }) {
            let labels = "service=\"\(k.service)\",operation=\"\(k.operation)\""
            for (i, b) in Self.buckets.enumerated() {
                out += "kumo_request_duration_seconds_bucket{\(labels),le=\"\(b)\"} \(h.counts[i])\n"
            }
            out += "kumo_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "kumo_request_duration_seconds_sum{\(labels)} \(h.sum)\n"
            out += "kumo_request_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        out += "# HELP kumo_requests_in_flight Requests being handled now.\n# TYPE kumo_requests_in_flight gauge\n"
        out += "kumo_requests_in_flight \(inFlightRequests)\n"
        out += "# HELP kumo_open_connections Client connections open to the edge.\n# TYPE kumo_open_connections gauge\n"
        out += "kumo_open_connections \(openConnections)\n"
        return out
    }
}
