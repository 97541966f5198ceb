import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Elastic Load Balancing (v2)'s control plane. Every write rebuilds the balancer's view
/// (`router.snapshot`) before the call returns, so traffic follows the API at once.
struct ELB: Sendable {
    let store: Store
    let clock: KumoClock
    let hostSuffix: String
    let directory: any InstanceDirectory
    /// Where access logs go; its buckets are checked when access logs are turned on.
    let logSink: (any LogFileSink)?
    let router: Router
    /// ACM: HTTPS listeners' certificates must exist there.
    let certificates: (any CertificateSource)?

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = try await store.write(body)
        try await router.reload()
        return result
    }

    func arn(_ call: OperationCall, _ resource: String) -> String {
        "arn:aws:elasticloadbalancing:\(call.context.region):\(call.context.accountId):\(resource)"
    }

    static func hex16() -> String { ResourceID.hex(length: 16) }



    static func attributes(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        if case .object(let pairs)? = try? JSONValue.parse(text) { for (k, v) in pairs { out[k] = v.string ?? "" } }
        return out
    }

    static func attributesText(_ values: [String: String]) -> String {
        JSONValue.object(values.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).serialized()
    }

    func records(_ db: Database, kind: String, account: String, region: String) throws -> [ResourceRecord] {
        try ResourceRecord.filter(Column("kind") == kind && Column("accountId") == account && Column("region") == region)
            .order(Column("created"), Column("arn")).fetchAll(db)
    }

    func record(_ db: Database, _ arn: String, kind: String, account: String, notFound: AWSError) throws -> ResourceRecord {
        guard let r = try ResourceRecord.fetchOne(db, key: arn), r.kind == kind, r.accountId == account else { throw notFound }
        return r
    }

    /// A page by `Marker` (an opaque position) and `PageSize`.
    static func page<T>(_ items: [T], _ input: ShapeValue) throws -> (items: [T], next: String?) {
        try PageToken.page(items, after: input["Marker"]?.string, limit: input["PageSize"]?.int ?? 400, invalid: AWSError.elbValidation("Invalid Marker"))
    }

    static func listOutput(_ member: String, _ items: [ShapeValue], next: String?) -> ShapeValue {
        var out: [String: ShapeValue] = [member: .list(items)]
        if let next { out["NextMarker"] = .string(next) }
        return .structure(out)
    }

    /// Load balancer and target group names: 1-32 letters, digits and hyphens, no hyphen at either end.
    static func checkName(_ name: String, what: String) throws {
        let ok = !name.isEmpty && name.count <= 32 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            && !name.hasPrefix("-") && !name.hasSuffix("-")
        guard ok else {
            throw AWSError.elbValidation(
                "\(what) name '\(name)' cannot be longer than '32' characters, can only contain alphanumeric characters and hyphens, and cannot begin or end with a hyphen")
        }
    }
}

extension AWSError {
    static func elbValidation(_ message: String) -> AWSError { AWSError(code: "ValidationError", message: message) }
    static func loadBalancerNotFound() -> AWSError {
        AWSError(code: "LoadBalancerNotFound", message: "One or more load balancers not found")
    }
    static func targetGroupNotFound() -> AWSError {
        AWSError(code: "TargetGroupNotFound", message: "One or more target groups not found")
    }
    static func listenerNotFound() -> AWSError { AWSError(code: "ListenerNotFound", message: "One or more listeners not found") }
    static func ruleNotFound() -> AWSError { AWSError(code: "RuleNotFound", message: "One or more rules not found") }
}
