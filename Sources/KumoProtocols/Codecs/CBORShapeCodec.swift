#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KumoCore

/// Converts between CBOR and shape values (smithy-rpc-v2-cbor).
struct CBORShapeCodec {
    let model: ServiceModel

    func decodeStructure(_ cbor: CBORValue, shape: Shape, path: String = "") throws(AWSError) -> ShapeValue {
        guard case .map(let entries) = cbor else {
            if cbor == .null { return .structure([:]) }
            throw AWSError.serialization("Expected a map at '\(path.isEmpty ? "input" : path)'")
        }
        var out: [String: ShapeValue] = [:]
        for (k, v) in entries {
            guard case .text(let key) = k, let ref = shape.member(named: key), v != .null, v != .undefined else { continue }
            out[key] = try decode(v, ref: ref, path: path.isEmpty ? key : path + "." + key)
        }
        return .structure(out)
    }

    func decode(_ cbor: CBORValue, ref: MemberRef, path: String) throws(AWSError) -> ShapeValue {
        let shape = model.shape(ref)
        switch shape.type {
        case .structure, .union:
            return try decodeStructure(cbor, shape: shape, path: path)
        case .list:
            guard case .array(let items) = cbor, let member = shape.member else { throw mismatch(path, "a list") }
            return .list(
                try items.map { item throws(AWSError) in
                    item == .null ? .null : try decode(item, ref: member, path: path)
                })
        case .map:
            guard case .map(let entries) = cbor, let valueRef = shape.value else { throw mismatch(path, "a map") }
            var out: [String: ShapeValue] = [:]
            for (k, v) in entries {
                guard case .text(let key) = k else { throw mismatch(path, "a map with string keys") }
                if v == .null {
                    if shape.sparse { out[key] = .null }
                    continue
                }
                out[key] = try decode(v, ref: valueRef, path: path + "." + key)
            }
            return .map(out)
        case .string:
            guard case .text(let s) = cbor else { throw mismatch(path, "a string") }
            return .string(s)
        case .integer, .long, .short, .byte, .biginteger:
            guard let i = cbor.int64 else { throw mismatch(path, "an integer") }
            return .integer(i)
        case .float, .double, .bigdecimal:
            if case .float(let d) = cbor { return .double(d) }
            if let i = cbor.int64 { return .double(Double(i)) }
            throw mismatch(path, "a number")
        case .boolean:
            guard case .bool(let b) = cbor else { throw mismatch(path, "a boolean") }
            return .boolean(b)
        case .timestamp:
            var inner = cbor
            if case .tagged(1, let v) = cbor { inner = v }
            if case .float(let d) = inner { return .timestamp(.init(timeIntervalSince1970: d)) }
            if let i = inner.int64 { return .timestamp(.init(timeIntervalSince1970: Double(i))) }
            throw mismatch(path, "a timestamp")
        case .blob:
            guard case .bytes(let b) = cbor else { throw mismatch(path, "a blob") }
            return .blob(b)
        case .document:
            return .document(.null)
        }
    }

    func mismatch(_ path: String, _ expected: String) -> AWSError {
        AWSError.serialization("Value at '\(path)' is not \(expected)")
    }

    func encodeStructure(_ value: ShapeValue, shape: Shape) -> CBORValue {
        guard let members = value.members else { return .map([]) }
        var out: [(CBORValue, CBORValue)] = []
        for (name, ref) in shape.members {
            guard let v = members[name] else { continue }
            out.append((.text(name), encode(v, ref: ref)))
        }
        return .map(out)
    }

    func encode(_ value: ShapeValue, ref: MemberRef) -> CBORValue {
        let shape = model.shape(ref)
        switch (shape.type, value) {
        case (_, .null): return .null
        case (.structure, _), (.union, _): return encodeStructure(value, shape: shape)
        case (.list, .list(let items)):
            guard let member = shape.member else { return .array([]) }
            return .array(items.map { encode($0, ref: member) })
        case (.map, _):
            guard let valueRef = shape.value, let members = value.members else { return .map([]) }
            return .map(members.keys.sorted().map { (.text($0), encode(members[$0]!, ref: valueRef)) })
        case (_, .string(let s)): return .text(s)
        case (.float, .integer(let i)), (.double, .integer(let i)): return .float(Double(i))
        case (_, .integer(let i)): return i >= 0 ? .unsigned(UInt64(i)) : .negative(UInt64(-1 - i))
        case (_, .double(let d)): return .float(d)
        case (_, .boolean(let b)): return .bool(b)
        case (_, .timestamp(let d)): return .tagged(1, .float(d.timeIntervalSince1970))
        case (_, .blob(let b)): return .bytes(b)
        default: return .null
        }
    }
}
