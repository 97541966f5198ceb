/// A CBOR data item (RFC 8949), the subset Smithy's rpc-v2-cbor protocol uses.
public indirect enum CBORValue: Sendable, Equatable {
    case unsigned(UInt64)
    /// A negative integer stored as its CBOR argument: the value is `-1 - n`.
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBORValue])
    case map([(CBORValue, CBORValue)])
    case tagged(UInt64, CBORValue)
    case bool(Bool)
    case null
    case undefined
    case float(Double)

    public static func == (lhs: CBORValue, rhs: CBORValue) -> Bool {
        switch (lhs, rhs) {
        case (.unsigned(let a), .unsigned(let b)), (.negative(let a), .negative(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        case (.text(let a), .text(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.tagged(let t, let a), .tagged(let u, let b)): t == u && a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null), (.undefined, .undefined): true
        case (.float(let a), .float(let b)): a == b || (a.isNaN && b.isNaN)
        default: false
        }
    }

    public subscript(key: String) -> CBORValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.0 == .text(key) }?.1
    }

    /// The integer value when this is an integer that fits in Int64.
    public var int64: Int64? {
        switch self {
        case .unsigned(let u): Int64(exactly: u)
        case .negative(let n): n < UInt64(Int64.max) ? -1 - Int64(n) : (n == UInt64(Int64.max) ? Int64.min : nil)
        default: nil
        }
    }
}

public struct CBORError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension CBORValue {
    public static func decode(_ bytes: some Collection<UInt8>) throws(CBORError) -> CBORValue {
        var d = CBORDecoder(bytes: Array(bytes))
        let v = try d.item(depth: 0)
        guard d.i == d.bytes.count else { throw CBORError(message: "unexpected data after the CBOR item") }
        return v
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    static func head(_ major: UInt8, _ value: UInt64, into out: inout [UInt8]) {
        let m = major << 5
        switch value {
        case 0..<24: out.append(m | UInt8(value))
        case 24...0xff: out.append(m | 24); out.append(UInt8(value))
        case 0x100...0xffff:
            out.append(m | 25)
            out.append(UInt8(value >> 8)); out.append(UInt8(value & 0xff))
        case 0x10000...0xffff_ffff:
            out.append(m | 26)
            for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8((value >> UInt64(s)) & 0xff)) }
        default:
            out.append(m | 27)
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((value >> UInt64(s)) & 0xff)) }
        }
    }

    func encode(into out: inout [UInt8]) {
        switch self {
        case .unsigned(let u): Self.head(0, u, into: &out)
        case .negative(let n): Self.head(1, n, into: &out)
        case .bytes(let b): Self.head(2, UInt64(b.count), into: &out); out.append(contentsOf: b)
        case .text(let s):
            let u = Array(s.utf8)
            Self.head(3, UInt64(u.count), into: &out)
            out.append(contentsOf: u)
        case .array(let items):
            Self.head(4, UInt64(items.count), into: &out)
            for item in items { item.encode(into: &out) }
        case .map(let entries):
            Self.head(5, UInt64(entries.count), into: &out)
            for (k, v) in entries { k.encode(into: &out); v.encode(into: &out) }
        case .tagged(let t, let v): Self.head(6, t, into: &out); v.encode(into: &out)
        case .bool(let b): out.append(b ? 0xf5 : 0xf4)
        case .null: out.append(0xf6)
        case .undefined: out.append(0xf7)
        case .float(let d):
            if let f = Float(exactly: d) ?? (d.isNaN ? Float.nan : nil) {
                out.append(0xfa)
                let bits = f.bitPattern
                for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8((bits >> UInt32(s)) & 0xff)) }
            } else {
                out.append(0xfb)
                let bits = d.bitPattern
                for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((bits >> UInt64(s)) & 0xff)) }
            }
        }
    }
}

struct CBORDecoder {
    let bytes: [UInt8]
    var i = 0
    static let maxDepth = 256

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() throws(CBORError) -> UInt8 {
        guard i < bytes.count else { throw CBORError(message: "unexpected end of CBOR data") }
        defer { i += 1 }
        return bytes[i]
    }

    mutating func read(_ n: Int) throws(CBORError) -> ArraySlice<UInt8> {
        guard n >= 0, bytes.count - i >= n else { throw CBORError(message: "unexpected end of CBOR data") }
        defer { i += n }
        return bytes[i..<(i + n)]
    }

    mutating func argument(_ info: UInt8) throws(CBORError) -> UInt64 {
        switch info {
        case 0..<24: return UInt64(info)
        case 24: return UInt64(try byte())
        case 25, 26, 27:
            let n = 1 << Int(info - 24)
            return try read(n).reduce(0) { $0 << 8 | UInt64($1) }
        default: throw CBORError(message: "invalid CBOR additional information \(info)")
        }
    }

    mutating func length(_ info: UInt8) throws(CBORError) -> Int? {
        if info == 31 { return nil }
        let n = try argument(info)
        guard n <= UInt64(bytes.count - i) || n <= 1 << 20 else { throw CBORError(message: "CBOR length too large") }
        return Int(n)
    }

    func isBreak() -> Bool { i < bytes.count && bytes[i] == 0xff }

    mutating func item(depth: Int) throws(CBORError) -> CBORValue {
        guard depth < Self.maxDepth else { throw CBORError(message: "CBOR nested too deeply") }
        let initial = try byte()
        let major = initial >> 5
        let info = initial & 0x1f
        switch major {
        case 0: return .unsigned(try argument(info))
        case 1: return .negative(try argument(info))
        case 2, 3:
            var data: [UInt8] = []
            if let n = try length(info) {
                guard n <= bytes.count - i else { throw CBORError(message: "unexpected end of CBOR data") }
                data = Array(try read(n))
            } else {
                while !isBreak() {
                    let chunk = try item(depth: depth + 1)
                    switch (major, chunk) {
                    case (2, .bytes(let b)): data += b
                    case (3, .text(let t)): data += Array(t.utf8)
                    default: throw CBORError(message: "invalid chunk in indefinite-length string")
                    }
                }
                i += 1
            }
            if major == 2 { return .bytes(data) }
            guard let s = String(validating: data, as: UTF8.self) else { throw CBORError(message: "invalid UTF-8 in CBOR text") }
            return .text(s)
        case 4:
            var items: [CBORValue] = []
            if let n = try length(info) {
                guard n <= bytes.count - i else { throw CBORError(message: "unexpected end of CBOR data") }
                for _ in 0..<n { items.append(try item(depth: depth + 1)) }
            } else {
                while !isBreak() { items.append(try item(depth: depth + 1)) }
                i += 1
            }
            return .array(items)
        case 5:
            var entries: [(CBORValue, CBORValue)] = []
            if let n = try length(info) {
                guard n <= bytes.count - i else { throw CBORError(message: "unexpected end of CBOR data") }
                for _ in 0..<n { entries.append((try item(depth: depth + 1), try item(depth: depth + 1))) }
            } else {
                while !isBreak() { entries.append((try item(depth: depth + 1), try item(depth: depth + 1))) }
                i += 1
            }
            return .map(entries)
        case 6:
            let tag = try argument(info)
            return .tagged(tag, try item(depth: depth + 1))
        default:
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 23: return .undefined
            case 25:
                let bits = UInt16(try read(2).reduce(0) { $0 << 8 | UInt32($1) })
                return .float(Double(Self.half(bits)))
            case 26:
                let bits = try read(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                return .float(Double(Float(bitPattern: bits)))
            case 27:
                let bits = try read(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                return .float(Double(bitPattern: bits))
            default: throw CBORError(message: "unsupported CBOR simple value \(info)")
            }
        }
    }

    static func half(_ h: UInt16) -> Float {
        let sign: Float = (h & 0x8000) != 0 ? -1 : 1
        let exp = Int((h >> 10) & 0x1f)
        let mant = Float(h & 0x3ff)
        if exp == 0 { return sign * mant * Float(pow2: -24) }
        if exp == 31 { return mant == 0 ? sign * .infinity : .nan }
        return sign * (1 + mant / 1024) * Float(pow2: exp - 15)
    }
}

extension Float {
    init(pow2 e: Int) {
        var v: Float = 1
        if e >= 0 { for _ in 0..<e { v *= 2 } } else { for _ in 0..<(-e) { v /= 2 } }
        self = v
    }
}
