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
    static let supportedTypes: Set = ["A", "AAAA", "CAA", "CNAME", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "TXT", "DS"]

    func recordShape(_ r: RecordSetRecord) -> ShapeValue {
        var out: [String: ShapeValue] = ["Name": .string(r.name), "Type": .string(r.type)]
        if let ttl = r.ttl { out["TTL"] = .integer(Int64(ttl)) }
        if !r.values.isEmpty { out["ResourceRecords"] = .list(r.values.map { ["Value": .string($0)] }) }
        if let alias = r.alias, let json = try? JSONValue.parse(alias) { out["AliasTarget"] = ShapeValue(storageJSON: json) }
        if !r.setIdentifier.isEmpty { out["SetIdentifier"] = .string(r.setIdentifier) }
        return .structure(out)
    }

    func changeResourceRecordSets(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["HostedZoneId"]?.string ?? ""
        let batch = call.input["ChangeBatch"]
        let changes = batch?["Changes"]?.list ?? []
        guard !changes.isEmpty else { throw AWSError.invalidChangeBatch(["The request must contain at least one change."]) }
        let change = ChangeRecord(id: Self.newId("C"), submitted: clock.now, comment: batch?["Comment"]?.string)
        try await write { db in
            let zone = try self.zone(db, id, account: account)
            var problems: [String] = []
            for c in changes {
                let action = c["Action"]?.string ?? ""
                let set = c["ResourceRecordSet"] ?? .empty
                let name = Self.fqdn(set["Name"]?.string ?? "")
                let type = set["Type"]?.string ?? ""
                let setId = set["SetIdentifier"]?.string ?? ""
                let values = (set["ResourceRecords"]?.list ?? []).compactMap { $0["Value"]?.string }
                let describe = "resource record set [name='\(name)', type='\(type)'\(setId.isEmpty ? "" : ", set-identifier='\(setId)'")]"
                guard name == zone.name || name.hasSuffix("." + zone.name) else {
                    problems.append("RRSet with DNS name \(name) is not permitted in zone \(zone.name)")
                    continue
                }
                guard Self.supportedTypes.contains(type) else {
                    problems.append("Invalid Resource Record Type: \(type)")
                    continue
                }
                let alias = set["AliasTarget"]
                if alias == nil && values.isEmpty { problems.append("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=\(action), Name=\(name), Type=\(type), SetIdentifier=\(setId.isEmpty ? "null" : setId)]"); continue }
                for v in values where type != "TXT" && type != "SPF" && type != "CAA" && type != "NAPTR" && type != "DS" && DNSTextCheck.isValid(type: type, value: v) == false {
                    problems.append("Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '\(v)''")
                }
                let key: [String: any DatabaseValueConvertible] = ["zoneId": zone.id, "name": name, "type": type, "setIdentifier": setId]
                let existing = try RecordSetRecord.fetchOne(db, key: key)
                // A CNAME cannot share its name with other records.
                let others = try RecordSetRecord.filter(Column("zoneId") == zone.id && Column("name") == name && Column("type") != type).fetchAll(db)
                let record = RecordSetRecord(
                    zoneId: zone.id, name: name, type: type, setIdentifier: setId, ttl: set["TTL"]?.int, values: values,
                    alias: alias.map { $0.storageJSON.serialized() })
                switch action {
                case "CREATE", "UPSERT":
                    if action == "CREATE", existing != nil { problems.append("Tried to create \(describe) but it already exists"); continue }
                    if type == "CNAME" && !others.isEmpty || type != "CNAME" && others.contains(where: { $0.type == "CNAME" }) {
                        problems.append("RRSet of type CNAME with DNS name \(name) is not permitted as it conflicts with other records with the same DNS name in zone \(zone.name)")
                        continue
                    }
                    try record.save(db)
                case "DELETE":
                    guard let existing else { problems.append("Tried to delete \(describe) but it was not found"); continue }
                    guard existing.values == values, existing.ttl == record.ttl || record.alias != nil else {
                        problems.append("Tried to delete \(describe) but the values provided do not match the current values")
                        continue
                    }
                    if name == zone.name && (type == "SOA" || type == "NS") {
                        problems.append("A HostedZone must contain at least one NS record for the zone itself.")
                        continue
                    }
                    _ = try existing.delete(db)
                default:
                    problems.append("Invalid action: \(action)")
                }
            }
            // All or nothing: a batch with any problem changes nothing.
            if !problems.isEmpty { throw AWSError.invalidChangeBatch(problems) }
            try change.insert(db)
        }
        return ["ChangeInfo": changeInfo(change)]
    }

    func listResourceRecordSets(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["HostedZoneId"]?.string ?? ""
        let max = Int(call.input["MaxItems"]?.string ?? "") ?? 300
        let startName = call.input["StartRecordName"]?.string.map(Self.fqdn)
        let startType = call.input["StartRecordType"]?.string
        var records = try await store.read { db in
            let zone = try self.zone(db, id, account: account)
            return try RecordSetRecord.filter(Column("zoneId") == zone.id).fetchAll(db)
        }
        // Route 53 lists in DNS order: by the reversed labels of the name, then by type.
        func order(_ r: RecordSetRecord) -> String { r.name.split(separator: ".").reversed().joined(separator: ".") }
        records.sort { (order($0), $0.type, $0.setIdentifier) < (order($1), $1.type, $1.setIdentifier) }
        if let startName {
            let start = startName.split(separator: ".").reversed().joined(separator: ".")
            records = records.filter { (order($0), $0.type) >= (start, startType ?? "") }
        }
        let page = records.prefix(max)
        var out: [String: ShapeValue] = [
            "ResourceRecordSets": .list(page.map(recordShape)), "IsTruncated": .boolean(records.count > max), "MaxItems": .string(String(max)),
        ]
        if records.count > max {
            let next = records[max]
            out["NextRecordName"] = .string(next.name)
            out["NextRecordType"] = .string(next.type)
        }
        return .structure(out)
    }

    /// The DNS server's view: the zone that holds `name`, and what it says — answered from
    /// the in-memory snapshot of the zones.
    func answer(name: String, type: String) async throws -> DNSAnswer {
        let query = Self.fqdn(name)
        let snap = try await zoneCache.snapshot(store)
        // The most specific public zone that contains the name.
        var labels = query.split(separator: ".")
        var zone: (id: String, name: String)?
        while !labels.isEmpty {
            if let z = snap.zones[labels.joined(separator: ".") + "."] {
                zone = z
                break
            }
            labels.removeFirst()
        }
        guard let zone else { return .refused }
        func sets(_ n: String) -> [RecordSetRecord] { (snap.records[zone.id + "|" + n] ?? []).filter { $0.alias == nil } }
        guard let soaRecord = sets(zone.name).first(where: { $0.type == "SOA" }) else { return .refused }
        let soa = DNSRecordSet(name: zone.name, type: "SOA", ttl: UInt32(soaRecord.ttl ?? 900), values: soaRecord.values)
        func rs(_ r: RecordSetRecord, as name: String) -> DNSRecordSet {
            DNSRecordSet(name: name, type: r.type, ttl: UInt32(r.ttl ?? 300), values: r.values)
        }
        var owner = query
        if (snap.records[zone.id + "|" + query] ?? []).isEmpty {
            // Names below this one make it an empty non-terminal (NODATA), not a missing name.
            if snap.ancestors.contains(zone.id + "|" + query) { return .noData(soa: soa) }
            // A wildcard covers names with no records of their own.
            owner = "*." + (query.split(separator: ".", maxSplits: 1).last.map(String.init) ?? "")
            if (snap.records[zone.id + "|" + owner] ?? []).isEmpty { return .nxDomain(soa: soa) }
        }
        let here = sets(owner)
        var matching = here.filter { $0.type == type || type == "ANY" }.map { rs($0, as: query) }
        matching += aliasAnswers(snap: snap, zone: zone.id, owner: owner, type: type, as: query)
        if !matching.isEmpty { return .records(matching) }
        if let cname = here.first(where: { $0.type == "CNAME" }) {
            // Follow the CNAME inside the zone, as an authoritative server does.
            var out = [rs(cname, as: query)]
            if let target = cname.values.first.map(Self.fqdn) {
                out += sets(target).filter { $0.type == type }.map { rs($0, as: target) }
            }
            return .records(out)
        }
        return .noData(soa: soa)
    }
}

extension Route53 {
    /// Alias records of `name` answered as plain records: an alias to another record of the
    /// zone takes that record's values; one to an AWS resource's name, the address behind it.
    func aliasAnswers(snap: ZoneCache.Snapshot, zone: String, owner: String, type: String, as query: String) -> [DNSRecordSet] {
        let aliases = (snap.records[zone + "|" + owner] ?? []).filter { $0.alias != nil && ($0.type == type || type == "ANY") }
        return aliases.compactMap { r in
            guard let text = r.alias else { return nil }
            let target = Self.fqdn(ShapeValue(storageText: text)["DNSName"]?.string ?? "")
            var values = (snap.records[zone + "|" + target] ?? []).filter { $0.alias == nil && $0.type == r.type }.flatMap(\.values)
            if values.isEmpty { values = aliasTargets(target, r.type) }
            return values.isEmpty ? nil : DNSRecordSet(name: query, type: r.type, ttl: 60, values: values)
        }
    }
}

/// Checks of record values Route 53 makes before accepting them.
enum DNSTextCheck {
    static func isValid(type: String, value: String) -> Bool {
        switch type {
        case "A":
            let parts = value.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
        case "AAAA": return value.contains(":")
        default: return !value.isEmpty
        }
    }
}
