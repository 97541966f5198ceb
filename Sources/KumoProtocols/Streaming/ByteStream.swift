public import NIOCore
import Synchronization

/// Bytes that move over time instead of sitting in memory: a request body the
/// edge hands to an operation as it arrives (an S3 upload), or a response body an
/// operation produces piece by piece (an S3 object read from disk).
///
/// A stream is consumed once. Transformations (`aws-chunked` decoding, payload
/// hash checks) wrap a stream in another one.
public struct ByteStream: Sendable {
    /// Receives the chunks in order; throwing stops the stream.
    public typealias Sink = (ByteBuffer) async throws -> Void

    /// The total number of bytes, when known before the first one arrives.
    public let length: Int64?
    /// Headers sent after the body (`aws-chunked` trailers), filled once the stream has been consumed.
    public let trailers: Trailers
    private let produce: @Sendable (Sink) async throws -> Void
    /// The whole body, when it is already in memory (a small object read in one go): the
    /// server can then write it in one piece.
    public let buffered: ByteBuffer?

    public init(length: Int64?, trailers: Trailers = Trailers(), _ produce: @escaping @Sendable (Sink) async throws -> Void) {
        self.length = length
        self.trailers = trailers
        self.produce = produce
        self.buffered = nil
    }

    /// A stream over one buffer already in memory.
    public init(buffer: ByteBuffer) {
        self.length = Int64(buffer.readableBytes)
        self.trailers = Trailers()
        self.buffered = buffer
        self.produce = { sink in if buffer.readableBytes > 0 { try await sink(buffer) } }
    }

    /// A stream over bytes already in memory.
    public init(bytes: [UInt8]) {
        self.init(length: Int64(bytes.count)) { sink in
            if !bytes.isEmpty { try await sink(ByteBuffer(bytes: bytes)) }
        }
    }

    /// Runs the stream, handing every chunk to `sink`.
    public func forEach(_ sink: Sink) async throws {
        try await produce(sink)
    }

    /// Reads the whole stream into memory; for small bodies only.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await forEach { buffer in
            guard out.count + buffer.readableBytes <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
            out.append(contentsOf: buffer.readableBytesView)
        }
        return out
    }

    /// A stream with the same bytes whose consumer also sees `transform` run over them first
    /// (a decoder, a hash check); `transform` gets every chunk and the downstream sink.
    public func through(
        length: Int64?, _ transform: @escaping @Sendable (ByteStream, Sink) async throws -> Void
    ) -> ByteStream {
        let upstream = self
        return ByteStream(length: length, trailers: trailers) { sink in try await transform(upstream, sink) }
    }

    /// Headers that follow a body.
    public final class Trailers: Sendable {
        private let values = Mutex<[(name: String, value: String)]>([])

        public init() {}

        public var all: [(name: String, value: String)] { values.withLock { $0 } }

        public func append(name: String, value: String) { values.withLock { $0.append((name, value)) } }

        public func value(_ name: String) -> String? {
            values.withLock { list in list.first { $0.name.caseInsensitiveEquals(name) }?.value }
        }
    }
}
