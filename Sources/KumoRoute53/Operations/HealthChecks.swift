import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Route53 {
    static let probedTypes: Set = ["HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"]

    func healthCheckShape(_ h: HealthCheckRecord) -> ShapeValue {
        [
            "Id": .string(h.id), "CallerReference": .string(h.callerReference),
            "HealthCheckConfig": ShapeValue(storageText: h.config), "HealthCheckVersion": .integer(Int64(h.version)),
        ]
    }

    func healthCheck(_ db: Database, _ id: String, account: String) throws -> HealthCheckRecord {
        guard let h = try HealthCheckRecord.fetchOne(db, key: id), h.accountId == account else {
            throw AWSError(code: "NoSuchHealthCheck", message: "No health check exists with the specified ID \(id).", status: 404)
        }
        return h
    }

    /// The configuration as Route 53 keeps it: AWS's defaults filled in, then checked.
    static func completed(_ input: ShapeValue) throws -> ShapeValue {
        guard case .structure(var c) = input else { throw invalidInput("HealthCheckConfig is required.") }
        let type = c["Type"]?.string ?? ""
        c["Inverted"] = c["Inverted"] ?? .boolean(false)
        c["Disabled"] = c["Disabled"] ?? .boolean(false)
        if type == "CALCULATED" {
            c["ChildHealthChecks"] = c["ChildHealthChecks"] ?? .list([])
            return .structure(c)
        }
        guard probedTypes.contains(type) else {
            throw invalidInput("Kumo does not run \(type) health checks; use HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP or CALCULATED.")
        }
        guard c["IPAddress"] != nil || c["FullyQualifiedDomainName"] != nil else {
            throw invalidInput("Invalid parameter : a health check of type \(type) needs an IPAddress or a FullyQualifiedDomainName.")
        }
        if type == "TCP", c["Port"] == nil { throw invalidInput("Invalid parameter : Port is required for health checks of type TCP.") }
        if type.hasSuffix("_STR_MATCH"), (c["SearchString"]?.string ?? "").isEmpty {
            throw invalidInput("Invalid parameter : SearchString is required for health checks of type \(type).")
        }
        let interval = c["RequestInterval"]?.int ?? 30
        guard interval == 10 || interval == 30 else { throw invalidInput("Invalid parameter : RequestInterval must be 10 or 30.") }
        c["RequestInterval"] = .integer(Int64(interval))
        c["FailureThreshold"] = c["FailureThreshold"] ?? .integer(3)
        c["MeasureLatency"] = c["MeasureLatency"] ?? .boolean(false)
        c["Port"] = c["Port"] ?? .integer(type.hasPrefix("HTTPS") ? 443 : 80)
        if type.hasPrefix("HTTPS") { c["EnableSNI"] = c["EnableSNI"] ?? .boolean(true) }
        return .structure(c)
    }

    static func invalidInput(_ message: String) -> AWSError { AWSError(code: "InvalidInput", message: message) }

    func createHealthCheck(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let reference = call.input["CallerReference"]?.string ?? ""
        let config = try Self.completed(call.input["HealthCheckConfig"] ?? .empty)
        let record = HealthCheckRecord(
            id: UUID().uuidString.lowercased(), accountId: account, callerReference: reference, config: config.storageText, version: 1,
            created: clock.now)
        let saved = try await store.write { db -> HealthCheckRecord in
            if let existing = try HealthCheckRecord.filter(Column("accountId") == account && Column("callerReference") == reference).fetchOne(db) {
                // The same request again is answered with the same health check.
                guard ShapeValue(storageText: existing.config) == config else {
                    throw AWSError(
                        code: "HealthCheckAlreadyExists",
                        message: "A health check with the CallerReference \(reference) already exists with a different configuration.", status: 409)
                }
                return existing
            }
            try self.checkChildren(db, config, account: account)
            try record.insert(db)
            return record
        }
        board.put(.init(id: saved.id, accountId: account, config: ShapeValue(storageText: saved.config)))
        return ["HealthCheck": healthCheckShape(saved), "Location": .string(call.context.endpoint + "/2013-04-01/healthcheck/" + saved.id)]
    }

    func checkChildren(_ db: Database, _ config: ShapeValue, account: String) throws {
        for child in (config["ChildHealthChecks"]?.list ?? []).compactMap(\.string) {
            guard try HealthCheckRecord.fetchOne(db, key: child)?.accountId == account else {
                throw Self.invalidInput("Invalid parameter : child health check \(child) does not exist.")
            }
        }
    }

    func getHealthCheck(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["HealthCheckId"]?.string ?? ""
        let h = try await store.read { db in try self.healthCheck(db, id, account: call.context.accountId) }
        return ["HealthCheck": healthCheckShape(h)]
    }

    func listHealthChecks(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let max = Int(call.input["MaxItems"]?.string ?? "") ?? 100
        let marker = call.input["Marker"]?.string ?? ""
        let all = try await store.read { db in
            try HealthCheckRecord.filter(Column("accountId") == account && Column("id") >= marker).order(Column("id")).fetchAll(db)
        }
        var out: [String: ShapeValue] = [
            "HealthChecks": .list(all.prefix(max).map(healthCheckShape)), "Marker": .string(marker),
            "IsTruncated": .boolean(all.count > max), "MaxItems": .string(String(max)),
        ]
        if all.count > max { out["NextMarker"] = .string(all[max].id) }
        return .structure(out)
    }

    func getHealthCheckCount(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let count = try await store.read { db in try HealthCheckRecord.filter(Column("accountId") == account).fetchCount(db) }
        return ["HealthCheckCount": .integer(Int64(count))]
    }

    func updateHealthCheck(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["HealthCheckId"]?.string ?? ""
        let updated = try await store.write { db -> HealthCheckRecord in
            var h = try self.healthCheck(db, id, account: account)
            if let version = call.input["HealthCheckVersion"]?.int, version != h.version {
                throw AWSError(
                    code: "HealthCheckVersionMismatch",
                    message: "The value of HealthCheckVersion in the request doesn't match the value of HealthCheckVersion in the health check.",
                    status: 409)
            }
            guard case .structure(var config) = ShapeValue(storageText: h.config) else { return h }
            let updatable = [
                "IPAddress", "Port", "ResourcePath", "FullyQualifiedDomainName", "SearchString", "FailureThreshold", "Inverted", "Disabled",
                "HealthThreshold", "ChildHealthChecks", "EnableSNI", "Regions",
            ]
            for name in updatable { if let v = call.input[name] { config[name] = v } }
            // ResetElements returns members to their defaults.
            for element in (call.input["ResetElements"]?.list ?? []).compactMap(\.string) {
                config[element] = nil
            }
            let complete = try Self.completed(.structure(config))
            try self.checkChildren(db, complete, account: account)
            h.config = complete.storageText
            h.version += 1
            try h.update(db)
            return h
        }
        board.put(.init(id: updated.id, accountId: account, config: ShapeValue(storageText: updated.config)))
        return ["HealthCheck": healthCheckShape(updated)]
    }

    func deleteHealthCheck(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["HealthCheckId"]?.string ?? ""
        try await store.write { db in
            let h = try self.healthCheck(db, id, account: account)
            // Still in use by a record set or a calculated health check?
            let records = try RecordSetRecord.filter(Column("routing") != nil).fetchAll(db)
            if records.contains(where: { Routing(storageText: $0.routing).healthCheckId == id }) {
                throw AWSError(code: "HealthCheckInUse", message: "Health check \(id) is still referenced from a resource record set.")
            }
            let parents = try HealthCheckRecord.filter(Column("accountId") == account).fetchAll(db).filter { parent in
                (ShapeValue(storageText: parent.config)["ChildHealthChecks"]?.list ?? []).contains { $0.string == id }
            }
            if let parent = parents.first {
                throw AWSError(code: "HealthCheckInUse", message: "Health check \(id) is still referenced from parent health check \(parent.id).")
            }
            _ = try h.delete(db)
        }
        board.remove(id)
        return .structure([:])
    }

    func getHealthCheckStatus(_ call: OperationCall) async throws -> ShapeValue {
        try await observations(call) { $0.report }
    }

    func getHealthCheckLastFailureReason(_ call: OperationCall) async throws -> ShapeValue {
        try await observations(call) { $0.lastFailure }
    }

    /// Kumo probes from one place: one observation, from its own region and address.
    func observations(_ call: OperationCall, _ pick: (HealthBoard.Status) -> (text: String, time: Date)?) async throws -> ShapeValue {
        let id = call.input["HealthCheckId"]?.string ?? ""
        _ = try await store.read { db in try self.healthCheck(db, id, account: call.context.accountId) }
        guard let status = board.status(id), let report = pick(status) else { return ["HealthCheckObservations": .list([])] }
        return [
            "HealthCheckObservations": .list([
                [
                    "Region": .string(region), "IPAddress": "127.0.0.1",
                    "StatusReport": ["Status": .string(report.text), "CheckedTime": .timestamp(report.time)],
                ]
            ])
        ]
    }

    /// Loads the stored health checks into the board (at start and after a reset).
    func loadHealthChecks() async throws {
        let all = try await store.read { db in try HealthCheckRecord.fetchAll(db) }
        for h in all { board.put(.init(id: h.id, accountId: h.accountId, config: ShapeValue(storageText: h.config))) }
    }
}
