public import KumoCore
public import Logging
import NIOCore
public import ServiceLifecycle
import KumoProtocols
import Synchronization
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Access log lines gathered per destination and delivered as gzip files into S3 buckets:
/// CloudFront standard logs and load balancer access logs.
public final class LogBatches: Sendable {
    /// Where lines go: a bucket, a key prefix, and the resource that logs (a distribution, a load balancer).
    public struct Destination: Hashable, Sendable {
        public var bucket: String
        public var prefix: String
        public var source: String

        public init(bucket: String, prefix: String, source: String) {
            self.bucket = bucket
            self.prefix = prefix
            self.source = source
        }
    }

    /// Lines written at the top of every file.
    let header: String
    /// The object key of a file for a destination, delivered at a time.
    let fileName: @Sendable (Destination, Date) -> String
    private let pending = Mutex<[Destination: [String]]>([:])

    public init(header: String, fileName: @escaping @Sendable (Destination, Date) -> String) {
        self.header = header
        self.fileName = fileName
    }

    public func append(_ line: String, to destination: Destination) {
        pending.withLock { $0[destination, default: []].append(line) }
    }

    /// Writes what has been gathered: one file per destination.
    public func flush(to sink: any LogFileSink, at time: Date, logger: Logger) async {
        let batches = pending.withLock { p -> [Destination: [String]] in
            defer { p = [:] }
            return p
        }
        for (destination, lines) in batches {
            let key = fileName(destination, time)
            let text = header + lines.joined(separator: "\n") + "\n"
            guard let body = Gzip.compress(ByteBuffer(string: text)) else { continue }
            do {
                try await sink.deliver(
                    bucket: destination.bucket, key: key, body: Array(buffer: body), contentType: "application/x-gzip", contentEncoding: nil)
            } catch {
                logger.warning("access log not delivered", metadata: ["bucket": "\(destination.bucket)", "key": "\(key)", "error": "\(error)"])
            }
        }
    }
}

/// Delivers a service's log batches every `interval` AWS seconds (shortened by `--time-scale`)
/// and once more at shutdown.
public struct LogBatchDelivery: Service {
    let batches: LogBatches
    let sink: any LogFileSink
    let clock: KumoClock
    let interval: Double
    let logger: Logger

    public init(batches: LogBatches, sink: any LogFileSink, clock: KumoClock, interval: Double, logger: Logger) {
        self.batches = batches
        self.sink = sink
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await clock.sleep(awsSeconds: interval)
                await batches.flush(to: sink, at: clock.now, logger: logger)
            }
        }
        await batches.flush(to: sink, at: clock.now, logger: logger)
    }
}

/// The parts of a UTC time that log file names and lines use.
public struct LogTime: Sendable {
    public let date: String  // 2026-11-22
    public let time: String  // 09:31:57
    public let iso: String   // 2026-11-22T09:31:57Z

    public init(_ instant: Date) {
        iso = Timestamp.iso8601(instant)
        date = String(iso.prefix(10))
        time = String(iso.dropFirst(11).prefix(8))
    }

    /// Seconds with three decimals (`0.012`), as access logs print durations.
    public static func seconds(_ value: Double) -> String {
        let millis = max(0, Int((value * 1000).rounded()))
        return CivilTime.text(capacity: 24) { out in
            out.digits(millis / 1000, width: 1)
            out.byte(UInt8(ascii: "."))
            out.digits(millis % 1000, width: 3)
        }
    }
}
