public import KumoCore

/// Checks an input against the model's constraints before the operation runs:
/// required members, enum values, lengths and ranges.
///
/// Messages follow AWS's wording: `1 validation error detected: Value null at
/// 'roleArn' failed to satisfy constraint: Member must not be null`.
public struct Validator {
    let model: ServiceModel
    /// Off for services whose servers accept more than the model's enums say (SQS takes message
    /// system attribute names in `AttributeNames`, as it did before the model split them).
    let checksEnums: Bool

    public init(model: ServiceModel, checksEnums: Bool = true) {
        self.model = model
        self.checksEnums = checksEnums
    }

    public func violations(_ value: ShapeValue, shape: Shape) -> [String] {
        var out: [String] = []
        check(value, shape: shape, path: "", into: &out)
        return out
    }

    static func lowerCamel(_ s: String) -> String { s.prefix(1).lowercased() + s.dropFirst() }

    func check(_ value: ShapeValue, shape: Shape, path: String, into out: inout [String]) {
        guard out.count < 20 else { return }
        switch shape.type {
        case .structure:
            let members = value.members ?? [:]
            for (name, ref) in shape.members {
                let memberPath = path.isEmpty ? Self.lowerCamel(name) : path + "." + Self.lowerCamel(name)
                guard let v = members[name] else {
                    if shape.required.contains(name) {
                        out.append("Value null at '\(memberPath)' failed to satisfy constraint: Member must not be null")
                    }
                    continue
                }
                check(v, shape: model.shape(ref), path: memberPath, into: &out)
            }
        case .list:
            let items = value.list ?? []
            checkLength(items.count, shape: shape, path: path, shown: "[...]", into: &out)
            if let member = shape.member {
                let memberShape = model.shape(member)
                for (i, item) in items.enumerated() where item != .null {
                    check(item, shape: memberShape, path: "\(path).\(i + 1).member", into: &out)
                }
            }
        case .map:
            let members = value.members ?? [:]
            checkLength(members.count, shape: shape, path: path, shown: "{...}", into: &out)
            if let valueRef = shape.value {
                let valueShape = model.shape(valueRef)
                for (_, v) in members where v != .null { check(v, shape: valueShape, path: path, into: &out) }
            }
        case .string:
            guard let s = value.string else { return }
            if checksEnums, let allowed = shape.enumValues, !allowed.isEmpty, !allowed.contains(s) {
                out.append(
                    "Value '\(s)' at '\(path)' failed to satisfy constraint: Member must satisfy enum value set: [\(allowed.joined(separator: ", "))]")
            }
            checkLength(s.count, shape: shape, path: path, shown: "'\(s)'", into: &out)
        case .blob:
            if let b = value.bytes { checkLength(b.count, shape: shape, path: path, shown: "java.nio.HeapByteBuffer", into: &out) }
        case .integer, .long, .short, .byte, .float, .double:
            guard let d = value.double else { return }
            let shown = value.int.map(String.init) ?? String(d)
            if let min = shape.min, d < min {
                out.append("Value '\(shown)' at '\(path)' failed to satisfy constraint: Member must have value greater than or equal to \(Self.number(min))")
            }
            if let max = shape.max, d > max {
                out.append("Value '\(shown)' at '\(path)' failed to satisfy constraint: Member must have value less than or equal to \(Self.number(max))")
            }
        default:
            break
        }
    }

    func checkLength(_ n: Int, shape: Shape, path: String, shown: String, into out: inout [String]) {
        if let min = shape.min, Double(n) < min {
            out.append("Value \(shown) at '\(path)' failed to satisfy constraint: Member must have length greater than or equal to \(Self.number(min))")
        }
        if let max = shape.max, Double(n) > max {
            out.append("Value \(shown) at '\(path)' failed to satisfy constraint: Member must have length less than or equal to \(Self.number(max))")
        }
    }

    static func number(_ d: Double) -> String { d == d.rounded() ? String(Int64(d)) : String(d) }

    /// The error for a list of violations, in the wording and code of the protocol.
    public static func error(_ violations: [String], protocol name: WireProtocolName, code: String?) -> AWSError {
        if name == .ec2, let first = violations.first, first.hasPrefix("Value null at '") {
            let member = first.dropFirst("Value null at '".count).prefix { $0 != "'" }
            return AWSError(
                code: code ?? "MissingParameter",
                message: "The request must contain the parameter \(member.prefix(1).uppercased() + member.dropFirst())")
        }
        let count = violations.count
        let message = "\(count) validation error\(count == 1 ? "" : "s") detected: " + violations.joined(separator: "; ")
        let defaultCode: String =
            switch name {
            case .query: "ValidationError"
            case .ec2: "InvalidParameterValue"
            case .restXML: "InvalidInput"
            case .json, .restJSON, .rpcV2CBOR: "ValidationException"
            }
        return AWSError(code: code ?? defaultCode, message: message)
    }
}
