#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KumoCore

/// Scalars written as text — in XML, headers, query strings and URIs.
enum ScalarText {
    static func parse(
        _ text: String, shape: Shape, timestampFormat: TimestampFormat, where location: String
    ) throws(AWSError) -> ShapeValue {
        switch shape.type {
        case .string:
            return .string(text)
        case .integer, .long, .short, .byte, .biginteger:
            guard let v = Int64(text.trimmingSpaces) else { throw invalid(text, "an integer", location) }
            return .integer(v)
        case .float, .double, .bigdecimal:
            switch text {
            case "NaN": return .double(.nan)
            case "Infinity": return .double(.infinity)
            case "-Infinity": return .double(-.infinity)
            default:
                guard let v = Double(text.trimmingSpaces) else { throw invalid(text, "a number", location) }
                return .double(v)
            }
        case .boolean:
            switch text.trimmingSpaces.lowercased() {
            case "true": return .boolean(true)
            case "false": return .boolean(false)
            default: throw invalid(text, "a boolean", location)
            }
        case .timestamp:
            let t = text.trimmingSpaces
            if let d = timestampFormat.parse(t) ?? TimestampFormat.iso8601.parse(t) ?? Double(t).map({ Date(timeIntervalSince1970: $0) })
                ?? TimestampFormat.rfc822.parse(t)
            {
                return .timestamp(d)
            }
            throw invalid(text, "a timestamp", location)
        case .blob:
            guard let data = Data(base64Encoded: text.trimmingSpaces) else { throw invalid(text, "base64 data", location) }
            return .blob(Array(data))
        case .document:
            return .document(.string(text))
        case .structure, .list, .map, .union:
            throw invalid(text, "a \(shape.type.rawValue)", location)
        }
    }

    static func format(_ value: ShapeValue, timestampFormat: TimestampFormat) -> String {
        switch value {
        case .string(let s): s
        case .integer(let i): String(i)
        case .double(let d): formatDouble(d)
        case .boolean(let b): b ? "true" : "false"
        case .timestamp(let d): timestampFormat.format(d)
        case .blob(let b): Data(b).base64EncodedString()
        case .document(let j): j.string ?? j.serialized()
        case .null, .structure, .list, .map, .stream, .events: ""
        }
    }

    static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d == .infinity { return "Infinity" }
        if d == -.infinity { return "-Infinity" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    static func invalid(_ text: String, _ expected: String, _ location: String) -> AWSError {
        AWSError(code: "SerializationException", message: "Value '\(text.prefix(100))' at '\(location)' is not \(expected)")
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and line breaks.
    public var trimmingSpaces: String { String(Substring(self).asciiTrimmed) }
}

// Header, query and form syntax is ASCII: splitting and trimming on UTF-8 bytes skips the
// grapheme breaking that `Character`-based `split` and `first`/`last` pay on every step.
extension Substring {
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    /// Without leading and trailing spaces, tabs and line breaks.
    public var asciiTrimmed: Substring {
        let u = utf8
        var start = u.startIndex, end = u.endIndex
        while start < end, Self.isSpace(u[start]) { start = u.index(after: start) }
        while end > start, Self.isSpace(u[u.index(before: end)]) { end = u.index(before: end) }
        return self[start..<end]
    }

    /// Pieces between occurrences of an ASCII separator byte.
    public func asciiSplit(_ separator: UInt8, maxSplits: Int = .max, omittingEmpty: Bool = true) -> [Substring] {
        // Scanning contiguous bytes (every native string; others are copied once) instead of stepping
        // the view's indices: an index step checks bounds and encoding each time, several times the compare.
        let cut = { (bytes: UnsafeBufferPointer<UInt8>) in
            Self.cuts(bytes, separator: separator, maxSplits: maxSplits, omittingEmpty: omittingEmpty)
        }
        let cuts = utf8.withContiguousStorageIfAvailable(cut) ?? Array(utf8).withUnsafeBufferPointer(cut)
        let u = utf8
        var parts: [Substring] = []
        parts.reserveCapacity(cuts.count)
        for r in cuts { parts.append(self[u.index(u.startIndex, offsetBy: r.lowerBound)..<u.index(u.startIndex, offsetBy: r.upperBound)]) }
        return parts
    }

    /// The byte ranges `asciiSplit` returns.
    static func cuts(_ bytes: UnsafeBufferPointer<UInt8>, separator: UInt8, maxSplits: Int, omittingEmpty: Bool) -> [Range<Int>] {
        var cuts: [Range<Int>] = []
        var separators = 0
        for b in bytes where b == separator { separators += 1 }
        cuts.reserveCapacity(Swift.min(separators, maxSplits) + 1)
        var start = 0
        for i in bytes.indices where bytes[i] == separator && cuts.count < maxSplits {
            if !(omittingEmpty && start == i) { cuts.append(start..<i) }
            start = i + 1
        }
        if !(omittingEmpty && start == bytes.count) { cuts.append(start..<bytes.count) }
        return cuts
    }

    /// The index of the first occurrence of an ASCII byte.
    public func asciiIndex(of byte: UInt8) -> Index? { utf8.firstIndex(of: byte) }
}

// Host names are ASCII: these compare and change case on UTF-8 bytes, without the Unicode
// normalization that `hasSuffix` and `lowercased()` do. Concrete (not generic over
// StringProtocol) so that calls from other modules are not unspecialized.
extension Substring {
    /// Whether the UTF-8 bytes end with `suffix`'s.
    public func utf8HasSuffix(_ suffix: String) -> Bool {
        let a = utf8, b = suffix.utf8
        guard b.count <= a.count else { return false }
        var i = a.endIndex, j = b.endIndex
        while j > b.startIndex {
            a.formIndex(before: &i)
            b.formIndex(before: &j)
            if a[i] != b[j] { return false }
        }
        return true
    }

    /// Whether the UTF-8 bytes start with `prefix`'s.
    public func utf8HasPrefix(_ prefix: String) -> Bool {
        let a = utf8, b = prefix.utf8
        guard b.count <= a.count else { return false }
        var i = a.startIndex, j = b.startIndex
        while j < b.endIndex {
            if a[i] != b[j] { return false }
            a.formIndex(after: &i)
            b.formIndex(after: &j)
        }
        return true
    }

    /// ASCII letters lower-cased, every other byte kept.
    public var asciiLowercased: String { Self.mapASCII(utf8, from: 65...90, by: 32) }

    /// ASCII letters upper-cased, every other byte kept.
    public var asciiUppercased: String { Self.mapASCII(utf8, from: 97...122, by: -32) }

    static func mapASCII(_ bytes: Substring.UTF8View, from range: ClosedRange<UInt8>, by shift: Int16) -> String {
        let mapped = bytes.withContiguousStorageIfAvailable { buffer in mapASCII(buffer, from: range, by: shift) }
            ?? Array(bytes).withUnsafeBufferPointer { buffer in mapASCII(buffer, from: range, by: shift) }
        // Unchanged text keeps its storage (a whole string's substring converts without a copy).
        return mapped ?? String(Substring(bytes))
    }

    /// The mapped text, nil when no byte is in `range`.
    static func mapASCII(_ bytes: UnsafeBufferPointer<UInt8>, from range: ClosedRange<UInt8>, by shift: Int16) -> String? {
        guard bytes.contains(where: { range.contains($0) }) else { return nil }
        return String(unsafeUninitializedCapacity: bytes.count) { out in
            for i in 0..<bytes.count { out[i] = range.contains(bytes[i]) ? UInt8(Int16(bytes[i]) + shift) : bytes[i] }
            return bytes.count
        }
    }
}

extension String {
    /// Whether the UTF-8 bytes end with `suffix`'s.
    public func utf8HasSuffix(_ suffix: String) -> Bool { Substring(self).utf8HasSuffix(suffix) }
    /// Whether the UTF-8 bytes start with `prefix`'s.
    public func utf8HasPrefix(_ prefix: String) -> Bool { Substring(self).utf8HasPrefix(prefix) }
    /// Whether `needle`'s UTF-8 bytes occur in the text's.
    public func utf8Contains(_ needle: String) -> Bool {
        let hay = Array(utf8), pin = Array(needle.utf8)
        guard pin.count <= hay.count else { return false }
        if pin.isEmpty { return true }
        for start in 0...(hay.count - pin.count) where hay[start] == pin[0] {
            if hay[start..<(start + pin.count)].elementsEqual(pin) { return true }
        }
        return false
    }
    /// ASCII letters lower-cased, every other byte kept.
    public var asciiLowercased: String { Substring(self).asciiLowercased }
    /// ASCII letters upper-cased, every other byte kept.
    public var asciiUppercased: String { Substring(self).asciiUppercased }
}

extension String {
    /// Pieces between occurrences of an ASCII separator byte.
    public func asciiSplit(_ separator: UInt8, maxSplits: Int = .max, omittingEmpty: Bool = true) -> [Substring] {
        Substring(self).asciiSplit(separator, maxSplits: maxSplits, omittingEmpty: omittingEmpty)
    }
}
