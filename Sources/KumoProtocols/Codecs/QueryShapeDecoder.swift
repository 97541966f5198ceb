import KumoCore

/// Decodes `Action=...&A.member.1=...` form parameters into shape values,
/// following the query and ec2 protocols' naming and flattening rules.
struct QueryShapeDecoder {
    let model: ServiceModel
    let isEC2: Bool
    let params: [String: String]

    init(model: ServiceModel, isEC2: Bool, params: [String: String]) {
        self.model = model
        self.isEC2 = isEC2
        self.params = params
    }

    func wireName(_ name: String, _ ref: MemberRef) -> String {
        guard isEC2 else { return ref.locationName ?? name }
        if let q = ref.queryName { return q }
        let base = ref.locationName ?? name
        return base.prefix(1).uppercased() + base.dropFirst()
    }

    func decodeStructure(_ shape: Shape, prefix: String) throws(AWSError) -> ShapeValue {
        var out: [String: ShapeValue] = [:]
        for (name, ref) in shape.members {
            let key = prefix.isEmpty ? wireName(name, ref) : prefix + "." + wireName(name, ref)
            if let v = try decode(key: key, ref: ref) { out[name] = v }
        }
        return .structure(out)
    }

    func hasChildren(_ prefix: String) -> Bool {
        let p = prefix + "."
        return params.keys.contains { $0.hasPrefix(p) }
    }

    /// The sorted indices `N` for which `prefix.N` or `prefix.N.*` is present.
    func indices(_ prefix: String) -> [Int] {
        let p = prefix + "."
        var found = Set<Int>()
        for k in params.keys where k.hasPrefix(p) {
            let rest = k.dropFirst(p.count)
            let digits = rest.prefix { $0 != "." }
            if let n = Int(digits), n > 0 { found.insert(n) }
        }
        return found.sorted()
    }

    func decode(key: String, ref: MemberRef) throws(AWSError) -> ShapeValue? {
        let shape = model.shape(ref)
        switch shape.type {
        case .structure, .union:
            guard hasChildren(key) else { return nil }
            return try decodeStructure(shape, prefix: key)
        case .list:
            guard let member = shape.member else { return nil }
            let listPrefix: String
            if isEC2 {
                listPrefix = key
            } else if ref.flattened ?? shape.flattened {
                if let memberName = member.locationName {
                    var parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                    parts[parts.count - 1] = memberName
                    listPrefix = parts.joined(separator: ".")
                } else {
                    listPrefix = key
                }
            } else {
                listPrefix = key + "." + (member.locationName ?? "member")
            }
            let idx = indices(listPrefix)
            if idx.isEmpty {
                if let v = params[key], v.isEmpty { return .list([]) }
                return nil
            }
            var items: [ShapeValue] = []
            for n in idx {
                if let v = try decode(key: listPrefix + "." + String(n), ref: member) { items.append(v) }
            }
            return .list(items)
        case .map:
            guard let keyRef = shape.key, let valueRef = shape.value else { return nil }
            let entryPrefix = (ref.flattened ?? shape.flattened) || isEC2 ? key : key + ".entry"
            let idx = indices(entryPrefix)
            guard !idx.isEmpty else { return nil }
            var out: [String: ShapeValue] = [:]
            for n in idx {
                let base = entryPrefix + "." + String(n) + "."
                guard let k = params[base + (keyRef.locationName ?? "key")] else { continue }
                if let v = try decode(key: base + (valueRef.locationName ?? "value"), ref: valueRef) { out[k] = v }
            }
            return .map(out)
        default:
            guard let text = params[key] else { return nil }
            let format = TimestampFormat(model: ref.timestampFormat ?? shape.timestampFormat) ?? .iso8601
            return try ScalarText.parse(text, shape: shape, timestampFormat: format, where: key)
        }
    }
}

/// Splits `a=1&b=2` into decoded pairs (`+` is a space, as in HTML forms).
public enum FormEncoding {
    public static func decode(_ text: Substring) -> [(String, String)] {
        guard !text.isEmpty else { return [] }
        // One pass over contiguous bytes: a presigned URL's query is decoded on every request.
        let pairs = { (bytes: UnsafeBufferPointer<UInt8>) -> [(String, String)] in
            var out: [(String, String)] = []
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "&") { end += 1 }
                if end > start {
                    var eq = start
                    while eq < end, bytes[eq] != UInt8(ascii: "=") { eq += 1 }
                    let name = unescape(UnsafeBufferPointer(rebasing: bytes[start..<eq]), plus: true)
                    let value = eq < end ? unescape(UnsafeBufferPointer(rebasing: bytes[(eq + 1)..<end]), plus: true) : ""
                    out.append((name, value))
                }
                start = end + 1
            }
            return out
        }
        return text.utf8.withContiguousStorageIfAvailable(pairs) ?? Array(text.utf8).withUnsafeBufferPointer(pairs)
    }

    /// Percent-decoding; invalid escapes are kept as written.
    public static func unescape(_ s: Substring, plus: Bool) -> String {
        let decode = { (bytes: UnsafeBufferPointer<UInt8>) in unescape(bytes, plus: plus) }
        return s.utf8.withContiguousStorageIfAvailable(decode) ?? Array(s.utf8).withUnsafeBufferPointer(decode)
    }

    static func unescape(_ u: UnsafeBufferPointer<UInt8>, plus: Bool) -> String {
        guard u.contains(where: { $0 == UInt8(ascii: "%") || (plus && $0 == UInt8(ascii: "+")) }) else {
            return String(decoding: u, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            let c = u[i]
            if c == UInt8(ascii: "%"), i + 2 < u.count, let h = hexValue(u[i + 1]), let l = hexValue(u[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else if plus && c == UInt8(ascii: "+") {
                out.append(0x20)
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    /// RFC 3986 encoding as SigV4 and AWS's query serializers do it: only `A-Za-z0-9-_.~` stay.
    public static func escape(_ s: String, keepSlash: Bool = false) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(c)
            case UInt8(ascii: "/") where keepSlash:
                out.append(c)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0xf)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
