import KumoProtocols
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// HTTP/1.1 heads read straight from bytes, for the listener ports' byte relay: only what the
/// relay needs (the request line, the headers as text, and how the body is framed). Anything
/// unusual is reported as not plain, and the connection goes to NIO's full HTTP parser instead.
enum HTTPHeadBytes {
    static let limit = 64 << 10

    /// Where a head ends in `bytes` (just past its empty line); nil while it is incomplete.
    /// `.malformed` for a line ending in a bare LF, or a head longer than `limit`.
    static func end(of bytes: ByteBuffer) -> HeadEnd {
        bytes.withUnsafeReadableBytes { buffer -> HeadEnd in
            let raw = buffer.bindMemory(to: UInt8.self)
            let window = UnsafeBufferPointer(rebasing: raw[..<min(raw.count, limit)])
            var lineStart = 0
            while let lf = index(of: 10, in: window, from: lineStart) {
                guard lf > 0, window[lf - 1] == 13 else { return .malformed }
                if lf - 1 == lineStart { return .complete(lf + 1) }
                lineStart = lf + 1
            }
            return raw.count > limit ? .malformed : .incomplete
        }
    }

    /// `isHopByHop` for a name's bytes.
    static func isHopByHop(_ name: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        switch name.count {
        case 2: equalsLowercased(name, "te")
        case 7: equalsLowercased(name, "trailer") || equalsLowercased(name, "upgrade")
        case 10: equalsLowercased(name, "connection") || equalsLowercased(name, "keep-alive")
        case 16: equalsLowercased(name, "proxy-connection")
        case 17: equalsLowercased(name, "transfer-encoding")
        case 18: equalsLowercased(name, "proxy-authenticate")
        case 19: equalsLowercased(name, "proxy-authorization")
        default: false
        }
    }

    /// Whether a header belongs to one connection (RFC 9110 §7.6.1) and never crosses a proxy:
    /// `hopByHopHeaders`, compared without making a lower-cased copy.
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: name.caseInsensitiveEquals("te")
        case 7: name.caseInsensitiveEquals("trailer") || name.caseInsensitiveEquals("upgrade")
        case 10: name.caseInsensitiveEquals("connection") || name.caseInsensitiveEquals("keep-alive")
        case 16: name.caseInsensitiveEquals("proxy-connection")
        case 17: name.caseInsensitiveEquals("transfer-encoding")
        case 18: name.caseInsensitiveEquals("proxy-authenticate")
        case 19: name.caseInsensitiveEquals("proxy-authorization")
        default: false
        }
    }

    enum HeadEnd: Equatable {
        case incomplete
        case complete(Int)
        case malformed
    }

    /// A request head the byte relay may pass on as it is.
    struct Request {
        var method: String
        var target: String
        var headers: [(name: String, value: String)]
        var contentLength: Int?
        var keepAlive: Bool
    }

    /// A plain HTTP/1.1 request head (the bytes up to and including its empty line), or nil for
    /// anything the full parser should see: another version, folded or malformed lines, a body
    /// framed other than by one Content-Length, `Expect`, or an upgrade.
    static func request(_ head: ByteBuffer) -> Request? {
        head.withUnsafeReadableBytes { bytes -> Request? in
            let raw = bytes.bindMemory(to: UInt8.self)
            let lines = Lines(raw)
            guard let first = lines.first else { return nil }
            // METHOD SP origin-form SP HTTP/1.1
            guard let sp1 = raw[first].firstIndex(of: 32), let sp2 = raw[(sp1 + 1)..<first.upperBound].firstIndex(of: 32) else { return nil }
            let method = first.lowerBound..<sp1
            let target = (sp1 + 1)..<sp2
            let version = (sp2 + 1)..<first.upperBound
            guard !method.isEmpty, raw[method].allSatisfy({ isToken($0) }), target.count > 0, raw[target.lowerBound] == UInt8(ascii: "/"),
                raw[target].allSatisfy({ $0 > 32 && $0 < 127 }), raw[version].elementsEqual("HTTP/1.1".utf8)
            else { return nil }
            var request = Request(
                method: text(raw, method), target: text(raw, target), headers: [],
                contentLength: nil, keepAlive: true)
            guard methods.contains(request.method) else { return nil }
            var fields = lines.fields()
            while let field = fields.next() {
                guard let field else { return nil }
                let (name, value) = field
                switch name.count {
                case 6 where equalsLowercased(raw[name], "expect"), 7 where equalsLowercased(raw[name], "upgrade"),
                    17 where equalsLowercased(raw[name], "transfer-encoding"):
                    return nil
                case 14 where equalsLowercased(raw[name], "content-length"):
                    guard request.contentLength == nil, let length = decimal(raw[value]) else { return nil }
                    request.contentLength = length
                case 10 where equalsLowercased(raw[name], "connection"):
                    for token in raw[value].split(separator: UInt8(ascii: ",")) {
                        let t = trimmed(token)
                        if equalsLowercased(t, "close") { request.keepAlive = false }
                        if equalsLowercased(t, "upgrade") { return nil }
                    }
                default:
                    break
                }
                request.headers.append((text(raw, name), text(raw, value)))
            }
            return request
        }
    }

    /// The methods passed on as bytes; others are left to the full parser (which knows which it takes).
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]

    /// How a response's body is framed.
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        /// Until the target closes the connection.
        case close
    }

    /// A response head from a target.
    struct Response {
        var status: Int
        var reason: String
        /// Its header lines (`name: value` and CRLF) less those of its connection (hop-by-hop),
        /// as bytes: what a proxy passes on.
        var passed: ByteBuffer
        var framing: Framing
        var keepAlive: Bool

        /// The passed-on headers as strings (made only when asked for).
        var headers: [(name: String, value: String)] {
            String(buffer: passed).split(separator: "\r\n").map { line in
                let parts = line.split(separator: ":", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? String(parts[1].dropFirst()) : "")
            }
        }
    }

    /// A response head (up to and including its empty line); nil when malformed. `method` is the
    /// request's (a HEAD's answer has no body).
    static func response(_ head: ByteBuffer, method: String) -> Response? {
        head.withUnsafeReadableBytes { bytes -> Response? in
            let raw = bytes.bindMemory(to: UInt8.self)
            let lines = Lines(raw)
            guard let first = lines.first, first.count >= 12 else { return nil }
            let line = raw[first]
            let start = first.lowerBound
            guard line.starts(with: "HTTP/1.".utf8), raw[start + 7] == UInt8(ascii: "1") || raw[start + 7] == UInt8(ascii: "0"),
                raw[start + 8] == 32, let status = decimal(raw[(start + 9)..<(start + 12)]), status >= 100,
                first.count == 12 || raw[start + 12] == 32
            else { return nil }
            let reason = first.count > 13 ? text(raw, (start + 13)..<first.upperBound) : ""
            var passed = ByteBuffer()
            passed.reserveCapacity(raw.count)
            var response = Response(status: status, reason: reason, passed: ByteBuffer(), framing: .close, keepAlive: raw[start + 7] == UInt8(ascii: "1"))
            var length: Int?
            var chunked = false
            var encoded = false
            var fields = lines.fields()
            while let field = fields.next() {
                guard let field else { return nil }
                let (name, value) = field
                switch name.count {
                case 14 where equalsLowercased(raw[name], "content-length"):
                    guard let n = decimal(raw[value]), length == nil || length == n else { return nil }
                    length = n
                case 17 where equalsLowercased(raw[name], "transfer-encoding"):
                    encoded = true
                    let last = raw[value].split(separator: UInt8(ascii: ",")).last.map(trimmed)
                    chunked = last.map { equalsLowercased($0, "chunked") } ?? false
                case 10 where equalsLowercased(raw[name], "connection"):
                    for token in raw[value].split(separator: UInt8(ascii: ",")) {
                        let t = trimmed(token)
                        if equalsLowercased(t, "close") { response.keepAlive = false }
                        if equalsLowercased(t, "keep-alive") { response.keepAlive = true }
                    }
                default:
                    break
                }
                if !isHopByHop(raw[name]) {
                    passed.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[name]))
                    passed.writeStaticString(": ")
                    passed.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[value]))
                    passed.writeStaticString("\r\n")
                }
            }
            response.passed = passed
            if method == "HEAD" || status == 204 || status == 304 || status < 200 {
                response.framing = .none
            } else if encoded {
                response.framing = chunked ? .chunked : .close
            } else if let length {
                response.framing = length == 0 ? .none : .length(length)
            }
            if response.framing == .close { response.keepAlive = false }
            return response
        }
    }

    /// The lines of a head (without their CRLF), the empty last one left out.
    struct Lines {
        let raw: UnsafeBufferPointer<UInt8>
        init(_ raw: UnsafeBufferPointer<UInt8>) { self.raw = raw }

        var first: Range<Int>? {
            guard let lf = HTTPHeadBytes.index(of: 10, in: raw, from: 0), lf > 0 else { return nil }
            return 0..<(lf - 1)
        }

        /// Header fields after the first line: (name, value) ranges, value trimmed; nil for a
        /// malformed or folded line.
        func fields() -> Fields { Fields(raw: raw, at: (first?.upperBound ?? raw.count) + 2) }
    }

    struct Fields: IteratorProtocol {
        let raw: UnsafeBufferPointer<UInt8>
        var at: Int

        mutating func next() -> (name: Range<Int>, value: Range<Int>)?? {
            guard at < raw.count, let lf = HTTPHeadBytes.index(of: 10, in: raw, from: at), lf - 1 > at else { return nil }
            let line = at..<(lf - 1)
            at = lf + 1
            var colon = line.lowerBound
            while colon < line.upperBound, HTTPHeadBytes.tokenBytes[Int(raw[colon])] { colon += 1 }
            guard colon > line.lowerBound, colon < line.upperBound, raw[colon] == UInt8(ascii: ":") else { return .some(nil) }
            var start = colon + 1
            var end = line.upperBound
            while start < end, raw[start] == 32 || raw[start] == 9 { start += 1 }
            while end > start, raw[end - 1] == 32 || raw[end - 1] == 9 { end -= 1 }
            // Control characters (a bare CR among them) are left to the full parser.
            for i in start..<end where raw[i] < 32 && raw[i] != 9 || raw[i] == 127 { return .some(nil) }
            return (line.lowerBound..<colon, start..<end)
        }
    }

    /// Where `byte` first is in `raw` at or after `from`.
    static func index(of byte: UInt8, in raw: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard from < raw.count, let base = raw.baseAddress, let found = memchr(base + from, Int32(byte), raw.count - from) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// RFC 9110 token characters, by byte.
    static let tokenBytes: [Bool] = (0..<256).map { b in
        switch b {
        case 0x61...0x7A, 0x41...0x5A, 0x30...0x39: true
        default: "!#$%&'*+-.^_`|~".utf8.contains(UInt8(b))
        }
    }

    static func isToken(_ b: UInt8) -> Bool { tokenBytes[Int(b)] }

    /// Text of a range of the head.
    static func text(_ raw: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: raw[range]), as: UTF8.self)
    }

    /// Whether ASCII bytes equal a lower-case word, ignoring case.
    static func equalsLowercased<C: Collection<UInt8>>(_ bytes: C, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        return word.withUTF8Buffer { w in zip(bytes, w).allSatisfy { ($0 | 0x20) == $1 } }
    }

    static func trimmed(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        var s = bytes
        while let b = s.first, b == 32 || b == 9 { s = s.dropFirst() }
        while let b = s.last, b == 32 || b == 9 { s = s.dropLast() }
        return s
    }

    /// A decimal number of 1 to 18 digits.
    static func decimal<C: Collection<UInt8>>(_ bytes: C) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var n = 0
        for b in bytes {
            guard b >= 48, b <= 57 else { return nil }
            n = n * 10 + Int(b - 48)
        }
        return n
    }
}

/// Finds where a chunked body ends in the bytes passing by (chunk sizes, extensions, data and
/// trailers), without changing them.
struct ChunkScanner {
    private enum State {
        case size(digits: Int)
        case extensions
        case sizeLF
        case data(Int)
        case dataCR
        case dataLF
        case trailerStart
        case trailer
        case trailerLF
        case lastLF
        case done
    }

    private var state = State.size(digits: 0)
    private var size = 0
    var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    enum Failure: Error { case malformed }

    /// Reads on from `bytes`: the count of them that belong to the body (all of them until its end).
    mutating func scan(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Int {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch state {
            case .size(let digits):
                if let v = Self.hex(b) {
                    guard digits < 15 else { throw .malformed }
                    size = size * 16 + v
                    state = .size(digits: digits + 1)
                } else if digits > 0, b == 13 {
                    state = .sizeLF
                } else if digits > 0, b == UInt8(ascii: ";") || b == 32 || b == 9 {
                    state = .extensions
                } else {
                    throw .malformed
                }
            case .extensions:
                if b == 13 { state = .sizeLF } else if b < 32 && b != 9 { throw .malformed }
            case .sizeLF:
                guard b == 10 else { throw .malformed }
                state = size == 0 ? .trailerStart : .data(size)
            case .data(let left):
                let take = min(left, bytes.count - i)
                i += take
                state = left == take ? .dataCR : .data(left - take)
                continue
            case .dataCR:
                guard b == 13 else { throw .malformed }
                state = .dataLF
            case .dataLF:
                guard b == 10 else { throw .malformed }
                size = 0
                state = .size(digits: 0)
            case .trailerStart:
                state = b == 13 ? .lastLF : .trailer
            case .trailer:
                if b == 13 { state = .trailerLF }
            case .trailerLF:
                guard b == 10 else { throw .malformed }
                state = .trailerStart
            case .lastLF:
                guard b == 10 else { throw .malformed }
                state = .done
                return i + 1
            case .done:
                return i
            }
            i += 1
        }
        return i
    }

    private static func hex(_ b: UInt8) -> Int? {
        switch b {
        case 48...57: Int(b - 48)
        case 65...70: Int(b - 55)
        case 97...102: Int(b - 87)
        default: nil
        }
    }
}
