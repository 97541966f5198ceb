#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A DNS message (RFC 1035) as plain values: what the server reads and writes.
public struct DNSMessage: Sendable, Equatable {
    public struct Question: Sendable, Equatable {
        public var name: String
        public var type: UInt16
        public var klass: UInt16
    }

    public struct Record: Sendable, Equatable {
        public var name: String
        public var type: UInt16
        public var klass: UInt16
        public var ttl: UInt32
        public var data: [UInt8]
    }

    public var id: UInt16
    public var flags: UInt16
    public var questions: [Question]
    public var answers: [Record] = []
    public var authority: [Record] = []
    public var additional: [Record] = []
    /// The requester's EDNS OPT record, echoed (with our own buffer size) when present.
    public var hasEDNS = false
    /// The UDP payload size the requester accepts (512 without EDNS).
    public var udpSize = 512
    /// The EDNS Client Subnet option (RFC 7871) of a query; echoed in the reply with the
    /// scope set to the source prefix (the answer was chosen for that whole subnet).
    public var clientSubnet: ClientSubnet?

    public struct ClientSubnet: Sendable, Equatable {
        /// 1 = IPv4, 2 = IPv6.
        public var family: UInt16
        public var sourcePrefix: UInt8
        /// The address bytes sent (only the prefix's bytes).
        public var address: [UInt8]

        /// The subnet's address in text form, padded with zero bytes.
        public var addressText: String? {
            switch family {
            case 1:
                let full = Array((address + [0, 0, 0, 0]).prefix(4))
                return full.map(String.init).joined(separator: ".")
            case 2:
                var full = Array((address + [UInt8](repeating: 0, count: 16)).prefix(16))
                var text = [CChar](repeating: 0, count: 64)
                return full.withUnsafeMutableBytes { raw in
                    inet_ntop(AF_INET6, raw.baseAddress, &text, 64) == nil
                        ? nil : String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            default: return nil
            }
        }
    }

    public var isResponse: Bool { flags & 0x8000 != 0 }
    public var opcode: UInt16 { (flags >> 11) & 0xF }

    public enum ParseError: Error { case truncated, badLabel, pointerLoop }

    /// Parses a query: header and questions; additional records only to notice EDNS.
    public static func parse(_ bytes: [UInt8]) throws -> DNSMessage {
        var r = Reader(bytes: bytes)
        let id = try r.u16()
        let flags = try r.u16()
        let qd = try r.u16(), an = try r.u16(), ns = try r.u16(), ar = try r.u16()
        var questions: [Question] = []
        for _ in 0..<min(qd, 16) {
            let name = try r.name()
            questions.append(Question(name: name, type: try r.u16(), klass: try r.u16()))
        }
        var message = DNSMessage(id: id, flags: flags, questions: questions)
        // Skip answers and authority; look for OPT among additional records.
        for i in 0..<(Int(an) + Int(ns) + Int(ar)) {
            _ = try r.name()
            let type = try r.u16()
            let klass = try r.u16()
            _ = try r.u32()
            let length = Int(try r.u16())
            let end = r.at + length
            if i >= Int(an) + Int(ns) && type == 41 {
                message.hasEDNS = true
                message.udpSize = max(512, Int(klass))
                // Options: code, length, data.
                while r.at + 4 <= end {
                    let code = try r.u16()
                    let size = Int(try r.u16())
                    guard r.at + size <= end, end <= r.bytes.count else { throw ParseError.truncated }
                    if code == 8, size >= 4 {
                        let family = try r.u16()
                        let source = try r.u8()
                        _ = try r.u8()
                        let bytes = Array(r.bytes[r.at..<(r.at + size - 4)])
                        try r.skip(size - 4)
                        let maxPrefix = family == 1 ? 32 : 128
                        if (family == 1 || family == 2), Int(source) <= maxPrefix, bytes.count == (Int(source) + 7) / 8 {
                            message.clientSubnet = ClientSubnet(family: family, sourcePrefix: source, address: bytes)
                        }
                    } else {
                        try r.skip(size)
                    }
                }
            }
            guard end >= r.at else { throw ParseError.truncated }
            try r.skip(end - r.at)
        }
        return message
    }

    /// The wire form, with names compressed against earlier ones. Over `limit` bytes, the
    /// records are dropped and TC is set, so the resolver retries over TCP (no amplification).
    public func serialized(limit: Int = .max) -> [UInt8] {
        let full = encoded()
        guard full.count > limit else { return full }
        var truncated = self
        truncated.answers = []
        truncated.authority = []
        truncated.additional = []
        truncated.flags |= 0x0200
        return truncated.encoded()
    }

    func encoded() -> [UInt8] {
        var w = Writer()
        w.u16(id)
        w.u16(flags)
        w.u16(UInt16(questions.count))
        w.u16(UInt16(answers.count))
        w.u16(UInt16(authority.count))
        w.u16(UInt16(additional.count) + (hasEDNS ? 1 : 0))
        for q in questions {
            w.name(q.name)
            w.u16(q.type)
            w.u16(q.klass)
        }
        for rr in answers + authority + additional {
            w.name(rr.name)
            w.u16(rr.type)
            w.u16(rr.klass)
            w.u32(rr.ttl)
            w.u16(UInt16(rr.data.count))
            w.bytes += rr.data
        }
        if hasEDNS {
            // OPT: root name, type 41, class = our UDP payload size, no extended flags.
            w.bytes += [0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]
            if let ecs = clientSubnet {
                let size = 4 + ecs.address.count
                w.u16(UInt16(4 + size))
                w.u16(8)
                w.u16(UInt16(size))
                w.u16(ecs.family)
                w.bytes += [ecs.sourcePrefix, ecs.sourcePrefix] + ecs.address
            } else {
                w.u16(0)
            }
        }
        return w.bytes
    }

    struct Reader {
        let bytes: [UInt8]
        var at = 0

        mutating func u8() throws -> UInt8 {
            guard at < bytes.count else { throw ParseError.truncated }
            defer { at += 1 }
            return bytes[at]
        }
        mutating func u16() throws -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }
        mutating func u32() throws -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }
        mutating func skip(_ n: Int) throws {
            guard at + n <= bytes.count else { throw ParseError.truncated }
            at += n
        }

        /// A possibly compressed name, as sent (case kept, so answers echo it), with a trailing dot.
        mutating func name() throws -> String {
            var labels: [String] = []
            var position = at
            var jumped = false
            var jumps = 0
            while true {
                guard position < bytes.count else { throw ParseError.truncated }
                let length = Int(bytes[position])
                if length & 0xC0 == 0xC0 {
                    guard position + 1 < bytes.count else { throw ParseError.truncated }
                    jumps += 1
                    guard jumps < 32 else { throw ParseError.pointerLoop }
                    if !jumped { at = position + 2 }
                    jumped = true
                    position = (length & 0x3F) << 8 | Int(bytes[position + 1])
                    continue
                }
                guard length & 0xC0 == 0 else { throw ParseError.badLabel }
                if length == 0 {
                    if !jumped { at = position + 1 }
                    break
                }
                guard position + 1 + length <= bytes.count, labels.count < 128 else { throw ParseError.truncated }
                labels.append(String(decoding: bytes[(position + 1)...(position + length)], as: UTF8.self))
                position += 1 + length
            }
            return labels.joined(separator: ".") + "."
        }
    }

    struct Writer {
        var bytes: [UInt8] = []
        var offsets: [String: Int] = [:]

        mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) }

        mutating func name(_ name: String) {
            // Lower-cased bytes for the compression keys; labels written as given.
            let raw = Array(name.utf8)
            let lower = raw.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            var start = 0
            while start < raw.count {
                var end = start
                while end < raw.count, raw[end] != UInt8(ascii: ".") { end += 1 }
                if end == start {  // an empty label (a trailing dot)
                    start = end + 1
                    continue
                }
                let suffix = lower[start...]
                let key = String(decoding: suffix.last == UInt8(ascii: ".") ? suffix.dropLast() : suffix, as: UTF8.self)
                if let offset = offsets[key], offset < 0x3FFF {
                    u16(0xC000 | UInt16(offset))
                    return
                }
                if bytes.count < 0x3FFF { offsets[key] = bytes.count }
                let label = raw[start..<min(end, start + 63)]
                bytes.append(UInt8(label.count))
                bytes += label
                start = end + 1
            }
            bytes.append(0)
        }
    }
}

/// Record types Kumo answers, by name and number.
public enum DNSType {
    public static let numbers: [String: UInt16] = [
        "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "NAPTR": 35, "DS": 43, "SPF": 99,
        "CAA": 257,
    ]
    public static func name(_ number: UInt16) -> String? { numbers.first { $0.value == number }?.key }

    /// RDATA for a record value in Route 53's text form; nil when it does not parse.
    public static func rdata(type: String, value: String) -> [UInt8]? {
        func name(_ n: String) -> [UInt8] {
            var out: [UInt8] = []
            for label in n.split(separator: ".") {
                let l = Array(label.utf8.prefix(63))
                out.append(UInt8(l.count))
                out += l
            }
            return out + [0]
        }
        let fields = value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        func u16(_ s: String) -> [UInt8]? { UInt16(s).map { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } }
        func u32(_ s: String) -> [UInt8]? { UInt32(s).map { [UInt8($0 >> 24), UInt8($0 >> 16 & 0xFF), UInt8($0 >> 8 & 0xFF), UInt8($0 & 0xFF)] } }
        switch type {
        case "A":
            let parts = value.split(separator: ".").compactMap { UInt8($0) }
            return parts.count == 4 ? parts : nil
        case "AAAA":
            var addr = in6_addr()
            guard inet_pton(AF_INET6, value, &addr) == 1 else { return nil }
            return withUnsafeBytes(of: &addr) { Array($0) }
        case "CNAME", "NS", "PTR":
            return name(value)
        case "MX":
            guard fields.count == 2, let p = u16(fields[0]) else { return nil }
            return p + name(fields[1])
        case "SRV":
            guard fields.count == 4, let a = u16(fields[0]), let b = u16(fields[1]), let c = u16(fields[2]) else { return nil }
            return a + b + c + name(fields[3])
        case "SOA":
            guard fields.count == 7, let nums = Optional(fields[2...].compactMap(u32)), nums.count == 5 else { return nil }
            return name(fields[0]) + name(fields[1]) + nums.flatMap { $0 }
        case "NAPTR":
            // order preference "flags" "services" "regexp" replacement
            let parts = quotedFields(value)
            guard parts.count == 6, let order = u16(parts[0]), let preference = u16(parts[1]) else { return nil }
            let strings = parts[2...4].flatMap { s -> [UInt8] in
                let b = Array(s.utf8.prefix(255))
                return [UInt8(b.count)] + b
            }
            return order + preference + strings + name(parts[5] == "." ? "" : parts[5])
        case "DS":
            // key tag, algorithm, digest type, digest in hex
            guard fields.count >= 4, let tag = u16(fields[0]), let algorithm = UInt8(fields[1]), let digestType = UInt8(fields[2]) else { return nil }
            let hex = Array(fields[3...].joined().utf8)
            guard hex.count % 2 == 0 else { return nil }
            var digest: [UInt8] = []
            var i = 0
            while i < hex.count {
                guard let byte = UInt8(String(decoding: hex[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
                digest.append(byte)
                i += 2
            }
            return tag + [algorithm, digestType] + digest
        case "TXT", "SPF":
            return txtStrings(value).flatMap { s -> [UInt8] in
                let b = Array(s.utf8.prefix(255))
                return [UInt8(b.count)] + b
            }
        case "CAA":
            guard fields.count >= 3, let flags = UInt8(fields[0]) else { return nil }
            let tag = Array(fields[1].utf8)
            let v = Array(fields[2...].joined(separator: " ").trimmingQuotes.utf8)
            return [flags, UInt8(tag.count)] + tag + v
        default:
            return nil
        }
    }

    /// Space-separated fields, a quoted one kept whole (without its quotes).
    static func quotedFields(_ value: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        var started = false
        for c in value {
            if c == "\"" {
                quoted.toggle()
                started = true
                continue
            }
            if c == " " && !quoted {
                if started || !current.isEmpty { out.append(current) }
                current = ""
                started = false
                continue
            }
            current.append(c)
        }
        if started || !current.isEmpty { out.append(current) }
        return out
    }

    /// `"a" "b c"` → [a, b c]; an unquoted value is one string.
    static func txtStrings(_ value: String) -> [String] {
        guard value.contains("\"") else { return [value] }
        var out: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for c in value {
            if escaped { current.append(c); escaped = false; continue }
            if c == "\\" && quoted { escaped = true; continue }
            if c == "\"" {
                if quoted { out.append(current); current = "" }
                quoted.toggle()
                continue
            }
            if quoted { current.append(c) }
        }
        return out
    }
}

extension String {
    var trimmingQuotes: String {
        var s = Substring(self)
        if s.hasPrefix("\"") { s = s.dropFirst() }
        if s.hasSuffix("\"") { s = s.dropLast() }
        return String(s)
    }
}
