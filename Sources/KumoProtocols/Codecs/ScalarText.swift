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
        var parts: [Substring] = []
        let u = utf8
        var start = u.startIndex
        var i = start
        while i < u.endIndex {
            if u[i] == separator, parts.count < maxSplits {
                if !(omittingEmpty && start == i) { parts.append(self[start..<i]) }
                start = u.index(after: i)
            }
            i = u.index(after: i)
        }
        if !(omittingEmpty && start == u.endIndex) { parts.append(self[start..<u.endIndex]) }
        return parts
    }

    /// The index of the first occurrence of an ASCII byte.
    public func asciiIndex(of byte: UInt8) -> Index? { utf8.firstIndex(of: byte) }
}

extension String {
    /// Pieces between occurrences of an ASCII separator byte.
    public func asciiSplit(_ separator: UInt8, maxSplits: Int = .max, omittingEmpty: Bool = true) -> [Substring] {
        Substring(self).asciiSplit(separator, maxSplits: maxSplits, omittingEmpty: omittingEmpty)
    }
}
