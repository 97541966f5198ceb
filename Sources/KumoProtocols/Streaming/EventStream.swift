import KumoCore
import NIOCore

/// Events an operation sends as they happen, for an output member whose shape is an event
/// stream (CloudWatch Logs' StartLiveTail): `run` calls `emit` with each event — a structure
/// with one member, named for the event type — until it returns or the client goes away
/// (`emit` throws then).
public struct EventSource: Sendable {
    public typealias Emit = (ShapeValue) async throws -> Void
    let run: @Sendable (Emit) async throws -> Void

    public init(_ run: @escaping @Sendable (Emit) async throws -> Void) { self.run = run }
}

/// The `application/vnd.amazon.eventstream` framing: each message is its total length, its
/// headers' length, a CRC32 of those eight bytes, the headers (string values), the payload,
/// and a CRC32 of everything before it.
public enum EventStreamFrame {
    public static let contentType = "application/vnd.amazon.eventstream"

    public static func encode(headers: [(name: String, value: String)], payload: [UInt8]) -> [UInt8] {
        var head: [UInt8] = []
        for (name, value) in headers {
            let n = Array(name.utf8), v = Array(value.utf8)
            head.append(UInt8(n.count))
            head += n
            head.append(7)  // string
            head += [UInt8(v.count >> 8 & 0xFF), UInt8(v.count & 0xFF)]
            head += v
        }
        let total = 12 + head.count + payload.count + 4
        var out = bigEndian(UInt32(total)) + bigEndian(UInt32(head.count))
        out += crc32(out)
        out += head
        out += payload
        out += crc32(out)
        return out
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func crc32(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = ChecksumHasher(.crc32)
        hasher.update(bytes)
        return hasher.digest()
    }
}
