#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A lossless JSON form of shape values, for services that persist what a client
/// sent (S3 bucket configurations, ...) and hand it back unchanged: each value is
/// tagged with its kind, so no model is needed to read it back.
extension ShapeValue {
    public var storageJSON: JSONValue {
        switch self {
        case .structure(let m): .object([("S", .object(m.sorted { $0.key < $1.key }.map { ($0.key, $0.value.storageJSON) }))])
        case .map(let m): .object([("M", .object(m.sorted { $0.key < $1.key }.map { ($0.key, $0.value.storageJSON) }))])
        case .list(let l): .object([("L", .array(l.map(\.storageJSON)))])
        case .string(let s): .object([("s", .string(s))])
        case .integer(let i): .object([("i", .number(String(i)))])
        case .double(let d): .object([("d", .string(String(d)))])
        case .boolean(let b): .object([("b", .bool(b))])
        case .timestamp(let t): .object([("t", .string(String(t.timeIntervalSince1970)))])
        case .blob(let b): .object([("B", .string(Data(b).base64EncodedString()))])
        case .document(let j): .object([("D", j)])
        case .null, .stream, .events: .null
        }
    }

    public init(storageJSON json: JSONValue) {
        guard case .object(let pairs) = json, let (tag, v) = pairs.first else {
            self = .null
            return
        }
        func members(_ v: JSONValue) -> [String: ShapeValue] {
            Dictionary((v.object ?? []).map { ($0.0, ShapeValue(storageJSON: $0.1)) }, uniquingKeysWith: { $1 })
        }
        switch tag {
        case "S": self = .structure(members(v))
        case "M": self = .map(members(v))
        case "L": self = .list((v.array ?? []).map(ShapeValue.init(storageJSON:)))
        case "s": self = .string(v.string ?? "")
        case "i": self = .integer(Int64(v.int ?? 0))
        case "d": self = .double(Double(v.string ?? "") ?? 0)
        case "b": self = .boolean(v.bool ?? false)
        case "t": self = .timestamp(Date(timeIntervalSince1970: Double(v.string ?? "") ?? 0))
        case "B": self = .blob(Array(Data(base64Encoded: v.string ?? "") ?? Data()))
        case "D": self = .document(v)
        default: self = .null
        }
    }
}

extension ShapeValue {
    /// The storage form as text, for a database column.
    public var storageText: String { storageJSON.serialized() }

    /// A value read back from `storageText`; an empty structure when the text is not storage JSON.
    public init(storageText text: String) {
        self = (try? JSONValue.parse(text)).map { ShapeValue(storageJSON: $0) } ?? .empty
    }
}
