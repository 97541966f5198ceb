import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CloudFront's control plane: distributions, invalidations, origin access controls and
/// policies in the store. Every write drops the edge's snapshot of the distributions.
struct CloudFront: Sendable {
    let store: Store
    let clock: KumoClock
    let hostSuffix: String
    let edge: CloudFrontEdge
    /// Where standard logs go; checked for the logging bucket when a config enables logging.
    let logSink: (any LogFileSink)?

    /// How long (in AWS seconds) a change takes to reach every edge: Status is InProgress until then.
    static let deploySeconds = 5.0

    /// A write the edge must see: its snapshot of the distributions is rebuilt before the call returns.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = try await store.write(body)
        edge.distributions.invalidate()
        try await edge.distributions.reload()
        return result
    }

    /// Distribution, invalidation and origin access control ids: `E` / `I` and 13 upper-case letters and digits.
    static func newId(_ prefix: String) -> String { ResourceID.iam(prefix, length: 13) }
    static func newETag() -> String { ResourceID.iam("E", length: 13) }

    func arn(distribution id: String, account: String) -> String { "arn:aws:cloudfront::\(account):distribution/\(id)" }

    func domainName(_ id: String) -> String { "\(id.lowercased()).cloudfront.\(hostSuffix)" }

    func deployedAt(from now: Date) -> Date {
        now.addingTimeInterval(Self.deploySeconds * clock.timeScale)
    }

    /// Reads an id-with-ETag update's `If-Match` (InvalidIfMatchVersion, PreconditionFailed).
    static func checkIfMatch(_ given: String?, current: String) throws {
        guard let given, !given.isEmpty else { throw AWSError.invalidIfMatchVersion() }
        guard given == current else { throw AWSError.preconditionFailed() }
    }

    /// Pagination by `Marker` (the last id of the previous page) and `MaxItems` (default 100).
    static func page<T>(_ items: [T], id: (T) -> String, marker: String?, maxItems: String?) throws -> (
        items: [T], next: String?, max: Int
    ) {
        let max = try maxItems.map { s -> Int in
            guard let n = Int(s), n >= 0 else { throw AWSError.cloudFrontInvalidArgument("MaxItems must be a non-negative integer.") }
            return n
        } ?? 100
        let start = marker.flatMap { m in items.firstIndex { id($0) == m }.map { $0 + 1 } } ?? 0
        let slice = Array(items.dropFirst(start).prefix(max))
        let truncated = start + slice.count < items.count
        return (slice, truncated ? slice.last.map(id) : nil, max)
    }

    /// A CloudFront list shape: Marker, MaxItems, IsTruncated, NextMarker, Quantity, Items.
    static func listShape(_ items: [ShapeValue], marker: String?, next: String?, max: Int, truncation: Bool = true) -> ShapeValue {
        var out: [String: ShapeValue] = [
            "Marker": .string(marker ?? ""), "MaxItems": .integer(Int64(max)), "Quantity": .integer(Int64(items.count)),
        ]
        if truncation { out["IsTruncated"] = .boolean(next != nil) }
        if !items.isEmpty { out["Items"] = .list(items) }
        if let next { out["NextMarker"] = .string(next) }
        return .structure(out)
    }


}

extension AWSError {
    static func noSuchDistribution() -> AWSError {
        AWSError(code: "NoSuchDistribution", message: "The specified distribution does not exist.", status: 404)
    }

    static func invalidIfMatchVersion() -> AWSError {
        AWSError(code: "InvalidIfMatchVersion", message: "The If-Match version is missing or not valid for the resource.")
    }

    static func preconditionFailed() -> AWSError {
        AWSError(
            code: "PreconditionFailed", message: "The precondition in one or more of the request-header fields evaluated to false.",
            status: 412)
    }

    static func cloudFrontInvalidArgument(_ message: String) -> AWSError {
        AWSError(code: "InvalidArgument", message: message)
    }
}
