import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// ModifyInstanceAttribute / DescribeInstanceAttribute: type and user data (while stopped),
/// termination protection, security groups, and flags recorded as given.
extension EC2 {
    static func attributes(_ r: InstanceRecord) -> [String: String] {
        var out: [String: String] = [:]
        if case .object(let pairs)? = try? JSONValue.parse(r.attributes) { for (k, v) in pairs { out[k] = v.string ?? "" } }
        return out
    }

    /// The attribute a call changes, in either of its forms (`Attribute` + `Value`, or a named member).
    static let instanceAttributes = [
        "instanceType": "InstanceType", "userData": "UserData", "disableApiTermination": "DisableApiTermination",
        "disableApiStop": "DisableApiStop", "instanceInitiatedShutdownBehavior": "InstanceInitiatedShutdownBehavior",
        "sourceDestCheck": "SourceDestCheck", "ebsOptimized": "EbsOptimized", "groupSet": "Groups",
    ]

    func modifyInstanceAttribute(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let id = input["InstanceId"]?.string ?? ""
        let row = try await instances(call, ids: [id])[0]
        var changes: [(String, ShapeValue)] = []
        if let name = input["Attribute"]?.string {
            guard let member = Self.instanceAttributes[name] else {
                throw AWSError(code: "InvalidParameterValue", message: "Value (\(name)) for parameter attribute is invalid. Unknown attribute.")
            }
            changes.append((member, input["Value"].map { ShapeValue.structure(["Value": $0]) } ?? .null))
        }
        for member in Self.instanceAttributes.values where member != "Groups" { if let v = input[member] { changes.append((member, v)) } }
        if let groups = input["Groups"] { changes.append(("Groups", groups)) }
        guard !changes.isEmpty else {
            throw AWSError(code: "MissingParameter", message: "The request must contain the parameter attribute or one of the attribute members")
        }
        let asked = changes
        try await store.write { db in
            guard var r = try InstanceRecord.fetchOne(db, key: row.id) else { throw AWSError.invalidInstanceId(id) }
            var flags = Self.attributes(r)
            for (member, value) in asked {
                switch member {
                case "InstanceType", "UserData":
                    guard r.state == "stopped" else {
                        throw AWSError(code: "IncorrectInstanceState", message: "The instance '\(r.id)' is not in the 'stopped' state.")
                    }
                    if member == "InstanceType" {
                        r.instanceType = value["Value"]?.string ?? r.instanceType
                    } else {
                        let raw: String =
                            switch value["Value"] {
                            case .blob(let b)?: String(decoding: b, as: UTF8.self)
                            case .string(let s)?: s
                            default: ""
                            }
                        r.userData = Data(base64Encoded: raw).flatMap { String(data: $0, encoding: .utf8) } ?? raw
                    }
                case "Groups":
                    let ids = (value.list ?? []).compactMap(\.string)
                    let names = try self.groupNames(db, account: r.accountId, region: r.region)
                    for g in ids where names[g] == nil { throw AWSError.invalidGroupId(g) }
                    r.securityGroups = JSONValue.array(ids.map { .string($0) }).serialized()
                default:
                    let text: String =
                        switch value["Value"] {
                        case .boolean(let b)?: b ? "true" : "false"
                        case .string(let s)?: s
                        default: ""
                        }
                    let key = Self.instanceAttributes.first { $0.value == member }?.key ?? member
                    flags[key] = text
                }
            }
            r.attributes = JSONValue.object(flags.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).serialized()
            try r.update(db)
        }
        return .empty
    }

    func describeInstanceAttribute(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["InstanceId"]?.string ?? ""
        let name = call.input["Attribute"]?.string ?? ""
        guard let member = Self.instanceAttributes[name] else {
            throw AWSError(code: "InvalidParameterValue", message: "Value (\(name)) for parameter attribute is invalid. Unknown attribute.")
        }
        let r = try await instances(call, ids: [id])[0]
        var out: [String: ShapeValue] = ["InstanceId": .string(r.id)]
        let flags = Self.attributes(r)
        switch member {
        case "InstanceType": out[member] = ["Value": .string(r.instanceType)]
        case "UserData":
            out[member] = r.userData.isEmpty ? .empty : ["Value": .string(Data(r.userData.utf8).base64EncodedString())]
        case "Groups":
            let names = try await store.read { db in try self.groupNames(db, account: r.accountId, region: r.region) }
            let ids = (try? JSONValue.parse(r.securityGroups))?.array?.compactMap(\.string) ?? []
            out[member] = .list(ids.map { ["GroupId": .string($0), "GroupName": .string(names[$0] ?? "")] })
        case "InstanceInitiatedShutdownBehavior":
            out[member] = ["Value": .string(flags[name] ?? "stop")]
        default:
            out[member] = ["Value": .boolean(flags[name] == "true" || (flags[name] == nil && member == "SourceDestCheck"))]
        }
        return .structure(out)
    }
}
