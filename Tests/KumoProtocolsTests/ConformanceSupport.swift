import Foundation
@testable import KumoProtocols
import KumoCore

/// Loads AWS's protocol test vectors from `../shared/conformance` (beside the checkout).
enum Conformance {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/conformance")

    struct Case: CustomStringConvertible, Sendable {
        var suite: String
        var id: String
        var model: ServiceModel
        var operation: ServiceModel.Operation
        var json: JSONValue
        var description: String { id }
    }

    static func load(_ direction: String, _ file: String) throws -> [Case] {
        let data = try Data(contentsOf: root.appendingPathComponent("aws-protocol-tests/\(direction)/\(file).json"))
        guard case .array(let suites) = try JSONValue.parse(Array(data)) else { return [] }
        var cases: [Case] = []
        for suite in suites {
            for c in suite["cases"]?.array ?? [] {
                guard let given = c["given"], let name = given["name"]?.string else { continue }
                let model = ServiceModel(
                    json: .object([
                        ("metadata", suite["metadata"] ?? .object([])),
                        ("shapes", suite["shapes"] ?? .object([])),
                        ("operations", .object([(name, given)])),
                    ]))
                cases.append(
                    Case(
                        suite: suite["description"]?.string ?? "", id: c["id"]?.string ?? "?", model: model,
                        operation: model.operations[name]!, json: c))
            }
        }
        return cases
    }

    /// Cases botocore itself skips (`protocol-tests-ignore-list.json`), with the reason.
    static func ignored(_ file: String, _ direction: String) throws -> (suites: Set<String>, cases: Set<String>) {
        let data = try Data(contentsOf: root.appendingPathComponent("aws-protocol-tests/protocol-tests-ignore-list.json"))
        let list = try JSONValue.parse(Array(data))
        let suites = Set((list["general"]?[direction]?["suites"]?.array ?? []).compactMap(\.string))
        let cases = Set((list["protocols"]?[file]?[direction]?["cases"]?.array ?? []).compactMap(\.string))
        return (suites, cases)
    }

    /// Converts botocore's test `params`/`result` JSON into a shape value of the given shape.
    static func value(_ json: JSONValue, ref: MemberRef, model: ServiceModel) -> ShapeValue {
        let shape = model.shape(ref)
        if json == .null { return .null }
        switch shape.type {
        case .structure, .union:
            var out: [String: ShapeValue] = [:]
            for (k, v) in json.object ?? [] {
                guard let m = shape.member(named: k) else { continue }
                out[k] = value(v, ref: m, model: model)
            }
            return .structure(out)
        case .list:
            return .list((json.array ?? []).map { value($0, ref: shape.member!, model: model) })
        case .map:
            var out: [String: ShapeValue] = [:]
            for (k, v) in json.object ?? [] { out[k] = value(v, ref: shape.value!, model: model) }
            return .map(out)
        case .string: return .string(json.string ?? "")
        case .integer, .long, .short, .byte, .biginteger: return .integer(Int64(json.int ?? 0))
        case .float, .double, .bigdecimal:
            switch json.string {
            case "NaN": return .double(.nan)
            case "Infinity": return .double(.infinity)
            case "-Infinity": return .double(-.infinity)
            default: return .double(json.double ?? 0)
            }
        case .boolean: return .boolean(json.bool ?? false)
        case .timestamp: return .timestamp(Date(timeIntervalSince1970: json.double ?? 0))
        case .blob: return .blob(Array((json.string ?? "").utf8))
        case .document: return .document(json)
        }
    }

    static func headers(_ json: JSONValue?) -> [(name: String, value: String)] {
        (json?.object ?? []).map { (name: $0.0, value: $0.1.string ?? "") }
    }

    static func body(_ text: String, protocol name: WireProtocolName) -> [UInt8] {
        if name == .rpcV2CBOR { return Array(Data(base64Encoded: text) ?? Data()) }
        return Array(text.utf8)
    }

    /// Drops nulls and empty lists and maps inside structures: a client sends nothing for them,
    /// so a server cannot tell them from absent members.
    static func normalized(_ v: ShapeValue) -> ShapeValue {
        switch v {
        case .structure(let m):
            .structure(
                m.mapValues(normalized).filter { _, v in
                    v != .null && v != .list([]) && v != .map([:]) && v != .structure([:])
                })
        case .map(let m): .map(m.mapValues(normalized))
        case .list(let l): .list(l.map(normalized))
        default: v
        }
    }
}
