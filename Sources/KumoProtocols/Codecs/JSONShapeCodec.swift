#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KumoCore

/// Converts between JSON and shape values (json and rest-json protocols).
struct JSONShapeCodec {
    let model: ServiceModel
    /// rest-json and json both name members by `locationName` when present.
    var timestampFormat: TimestampFormat = .unixTimestamp

    func format(_ ref: MemberRef) -> TimestampFormat {
        TimestampFormat(model: ref.timestampFormat ?? model.shape(ref).timestampFormat) ?? timestampFormat
    }

    func decodeStructure(_ json: JSONValue, shape: Shape, path: String = "") throws(AWSError) -> ShapeValue {
        guard case .object(let fields) = json else {
            if json == .null { return .structure([:]) }
            throw AWSError.serialization("Expected an object at '\(path.isEmpty ? "input" : path)'")
        }
        var byWireName: [String: JSONValue] = [:]
        for (k, v) in fields { byWireName[k] = v }
        var out: [String: ShapeValue] = [:]
        for (name, ref) in shape.members where XMLShapeCodec.isBody(ref) {
            guard let v = byWireName[ref.locationName ?? name], v != .null else { continue }
            out[name] = try decode(v, ref: ref, path: path.isEmpty ? name : path + "." + name)
        }
        return .structure(out)
    }

    func decode(_ json: JSONValue, ref: MemberRef, path: String) throws(AWSError) -> ShapeValue {
        let shape = model.shape(ref)
        switch shape.type {
        case .structure:
            return try decodeStructure(json, shape: shape, path: path)
        case .union:
            return try decodeStructure(json, shape: shape, path: path)
        case .list:
            guard case .array(let items) = json, let member = shape.member else { throw mismatch(path, "a list") }
            return .list(
                try items.map { item throws(AWSError) in
                    item == .null ? .null : try decode(item, ref: member, path: path)
                })
        case .map:
            guard case .object(let entries) = json, let valueRef = shape.value else { throw mismatch(path, "a map") }
            var out: [String: ShapeValue] = [:]
            for (k, v) in entries {
                if v == .null {
                    if shape.sparse { out[k] = .null }
                    continue
                }
                out[k] = try decode(v, ref: valueRef, path: path + "." + k)
            }
            return .map(out)
        case .string:
            guard let s = json.string else { throw mismatch(path, "a string") }
            return .string(s)
        case .integer, .long, .short, .byte, .biginteger:
            guard case .number(let n) = json, let v = Int64(n) ?? Double(n).flatMap({ Int64(exactly: $0) }) else {
                throw mismatch(path, "an integer")
            }
            return .integer(v)
        case .float, .double, .bigdecimal:
            switch json {
            case .number(let n): return .double(Double(n) ?? 0)
            case .string("NaN"): return .double(.nan)
            case .string("Infinity"): return .double(.infinity)
            case .string("-Infinity"): return .double(-.infinity)
            default: throw mismatch(path, "a number")
            }
        case .boolean:
            guard let b = json.bool else { throw mismatch(path, "a boolean") }
            return .boolean(b)
        case .timestamp:
            switch json {
            case .number(let n): return .timestamp(Date(timeIntervalSince1970: Double(n) ?? 0))
            case .string(let s):
                if let d = format(ref).parse(s) ?? TimestampFormat.iso8601.parse(s) ?? TimestampFormat.rfc822.parse(s) {
                    return .timestamp(d)
                }
                throw mismatch(path, "a timestamp")
            default: throw mismatch(path, "a timestamp")
            }
        case .blob:
            guard let s = json.string, let d = Data(base64Encoded: s) else { throw mismatch(path, "base64 data") }
            return .blob(Array(d))
        case .document:
            return .document(json)
        }
    }

    func mismatch(_ path: String, _ expected: String) -> AWSError {
        AWSError.serialization("Value at '\(path)' is not \(expected)")
    }

    // MARK: encoding

    func encodeStructure(_ value: ShapeValue, shape: Shape) -> JSONValue {
        guard let members = value.members else { return .object([]) }
        var out: [(String, JSONValue)] = []
        for (name, ref) in shape.members where XMLShapeCodec.isBody(ref) {
            guard let v = members[name] else { continue }
            out.append((ref.locationName ?? name, encode(v, ref: ref)))
        }
        return .object(out)
    }

    func encode(_ value: ShapeValue, ref: MemberRef) -> JSONValue {
        let shape = model.shape(ref)
        switch (shape.type, value) {
        case (_, .null): return .null
        case (_, .document(let j)): return j
        case (.structure, _), (.union, _): return encodeStructure(value, shape: shape)
        case (.list, .list(let items)):
            guard let member = shape.member else { return .array([]) }
            return .array(items.map { encode($0, ref: member) })
        case (.map, _):
            guard let valueRef = shape.value, let members = value.members else { return .object([]) }
            return .object(members.keys.sorted().map { ($0, encode(members[$0]!, ref: valueRef)) })
        case (_, .string(let s)): return .string(s)
        case (_, .integer(let i)): return .number(String(i))
        case (_, .double(let d)):
            if d.isNaN { return .string("NaN") }
            if d.isInfinite { return .string(d > 0 ? "Infinity" : "-Infinity") }
            return .number(ScalarText.formatDouble(d))
        case (_, .boolean(let b)): return .bool(b)
        case (_, .timestamp(let d)):
            let f = format(ref)
            return f == .unixTimestamp ? .number(Timestamp.epochString(d)) : .string(f.format(d))
        case (_, .blob(let b)): return .string(Data(b).base64EncodedString())
        default: return .null
        }
    }
}
