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
        if let routing = r.routing, case .structure(let members) = ShapeValue(storageText: routing) {
            out.merge(members) { current, _ in current }
        }
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
                let changeText = "Change with [Action=\(action), Name=\(name), Type=\(type), SetIdentifier=\(setId.isEmpty ? "null" : setId)]"
                let policies = Routing.policies.filter { set[$0] != nil }
                if policies.count > 1 || (!setId.isEmpty && policies.isEmpty) {
                    problems.append("Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found \(policies.isEmpty ? "none" : "more than one") in \(changeText)")
                    continue
                }
                if setId.isEmpty && !policies.isEmpty {
                    problems.append("Invalid request: Missing field 'SetIdentifier' in \(changeText)")
                    continue
                }
                if let unsupported = policies.first(where: { $0 == "GeoProximityLocation" || $0 == "CidrRoutingConfig" }) {
                    problems.append("Invalid request: Kumo does not answer \(unsupported) routing yet, in \(changeText)")
                    continue
                }
                var routingMembers: [String: ShapeValue] = [:]
                for m in Routing.members { if let v = set[m] { routingMembers[m] = v } }
                let routing = Routing(.structure(routingMembers))
                if let check = routing.healthCheckId, try HealthCheckRecord.fetchOne(db, key: check)?.accountId != account {
                    problems.append("Invalid request: no health check exists with the ID \(check), in \(changeText)")
                    continue
                }
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
                    alias: alias.map { $0.storageJSON.serialized() },
                    routing: routingMembers.isEmpty ? nil : ShapeValue.structure(routingMembers).storageText)
                switch action {
                case "CREATE", "UPSERT":
                    if action == "CREATE", existing != nil { problems.append("Tried to create \(describe) but it already exists"); continue }
                    // Record sets of one name and type share one routing policy.
                    let siblings = try RecordSetRecord.filter(
                        Column("zoneId") == zone.id && Column("name") == name && Column("type") == type && Column("setIdentifier") != setId
                    ).fetchAll(db)
                    if let sibling = siblings.first(where: { Routing(storageText: $0.routing).policy != routing.policy }) {
                        let described = "RRSet with DNS name \(name), type \(type)\(setId.isEmpty ? "" : ", SetIdentifier \(setId)")"
                        if let policy = routing.policy {
                            problems.append("\(described) cannot be created because a non \(policy) rrset exists with the same name and type.")
                        } else {
                            let theirs = Routing(storageText: sibling.routing).policy ?? "simple"
                            problems.append("\(described) cannot be created because a \(theirs) rrset exists with the same name and type.")
                        }
                        continue
                    }
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
        let startIdentifier = call.input["StartRecordIdentifier"]?.string
        var records = try await store.read { db in
            let zone = try self.zone(db, id, account: account)
            return try RecordSetRecord.filter(Column("zoneId") == zone.id).fetchAll(db)
        }
        // Route 53 lists in DNS order: by the reversed labels of the name, then by type.
        func order(_ r: RecordSetRecord) -> String { r.name.split(separator: ".").reversed().joined(separator: ".") }
        records.sort { (order($0), $0.type, $0.setIdentifier) < (order($1), $1.type, $1.setIdentifier) }
        if let startName {
            let start = startName.split(separator: ".").reversed().joined(separator: ".")
            records = records.filter { (order($0), $0.type, $0.setIdentifier) >= (start, startType ?? "", startIdentifier ?? "") }
        }
        let page = records.prefix(max)
        var out: [String: ShapeValue] = [
            "ResourceRecordSets": .list(page.map(recordShape)), "IsTruncated": .boolean(records.count > max), "MaxItems": .string(String(max)),
        ]
        if records.count > max {
            let next = records[max]
            out["NextRecordName"] = .string(next.name)
            out["NextRecordType"] = .string(next.type)
            if !next.setIdentifier.isEmpty { out["NextRecordIdentifier"] = .string(next.setIdentifier) }
        }
        return .structure(out)
    }

    /// The DNS server's view: the zone that holds `name`, and what it says to this client —
    /// answered from the in-memory snapshot of the zones, routing policies applied.
    func answer(name: String, type: String, client: DNSClient) async throws -> DNSAnswer {
        let snap = try await zoneCache.snapshot(store)
        var privateZones: [String: (id: String, name: String)] = [:]
        if !snap.privateZones.isEmpty, let address = client.address, let vpc = await directory?.vpc(bindAddress: address) {
            privateZones = snap.privateZones[vpc] ?? [:]
        }
        var reusable = true
        return answer(name: name, type: type, client: client, snap: snap, privateZones: privateZones, reusable: &reusable)
    }

    /// The answer without waiting: when the zones' snapshot is in memory and no private zone
    /// needs the asking instance's VPC looked up. It carries the snapshot's generation when it
    /// is the same for every client (see `DNSAnswerNow`).
    func answerNow(name: String, type: String, client: DNSClient) -> DNSAnswerNow? {
        guard let (snap, generation) = zoneCache.cached, snap.privateZones.isEmpty else { return nil }
        var reusable = true
        let answer = answer(name: name, type: type, client: client, snap: snap, privateZones: [:], reusable: &reusable)
        return DNSAnswerNow(answer, version: reusable ? generation : nil)
    }

    /// The answer from a snapshot of the zones; `privateZones` are those of the asking instance's VPC.
    /// `reusable` turns false when a routing policy, health check or alias target chose the answer
    /// (it may differ for the next client); otherwise the answer depends on the snapshot alone.
    func answer(
        name: String, type: String, client: DNSClient, snap: ZoneCache.Snapshot, privateZones: [String: (id: String, name: String)],
        depth: Int = 0, reusable: inout Bool
    ) -> DNSAnswer {
        let query = Self.fqdn(name)
        // The most specific zone that contains the name: a private zone of the asking instance's
        // VPC before a public zone of the same name.
        // Suffixes of the name at each label boundary (UTF-8 scanning: names are ASCII on the wire).
        var zone: (id: String, name: String)?
        var cursor = query.utf8.startIndex
        while cursor < query.utf8.endIndex {
            let candidate = String(query[cursor...])
            if let z = privateZones[candidate] ?? snap.zones[candidate] {
                zone = z
                break
            }
            guard let dot = query.utf8[cursor...].firstIndex(of: UInt8(ascii: ".")) else { break }
            cursor = query.utf8.index(after: dot)
        }
        guard let zone else { return .refused }
        var decision = RoutingDecision(client: locations.locate(client.locatingAddress), homeRegion: region, healthy: board.isHealthy)
        func records(_ n: String) -> [RecordSetRecord] { snap.records[zone.id + "|" + n] ?? [] }
        // An alias that evaluates its target's health is healthy while one of the target's records is.
        let board = self.board
        decision.aliasHealthy = { alias in
            let target = ShapeValue(storageText: alias.alias ?? "")
            guard target["EvaluateTargetHealth"]?.bool == true else { return true }
            let records = (snap.records[zone.id + "|" + Self.fqdn(target["DNSName"]?.string ?? "")] ?? []).filter { $0.type == alias.type }
            guard !records.isEmpty else { return true }
            return records.contains { r in Routing(storageText: r.routing).healthCheckId.map { board.isHealthy($0) ?? true } ?? true }
        }
        guard let soaRecord = records(zone.name).first(where: { $0.type == "SOA" && $0.alias == nil }) else { return .refused }
        let soa = DNSRecordSet(name: zone.name, type: "SOA", ttl: UInt32(soaRecord.ttl ?? 900), values: soaRecord.values)
        // A subdomain with NS records of its own is delegated: below it, refer (DS stays with the parent).
        var cut = Substring(query)
        var delegations: [Substring] = []
        let apexLength = zone.name.utf8.count
        while cut.utf8.count > apexLength, let dot = cut.utf8.firstIndex(of: UInt8(ascii: ".")) {
            delegations.append(cut)
            cut = cut[cut.utf8.index(after: dot)...]
        }
        for point in delegations.reversed() {
            let name = String(point)
            guard let ns = records(name).first(where: { $0.type == "NS" && $0.alias == nil }) else { continue }
            if name == query && type == "DS" { break }
            let glue = ns.values.map(Self.fqdn).flatMap { server in
                records(server).filter { ($0.type == "A" || $0.type == "AAAA") && $0.alias == nil }
                    .map { DNSRecordSet(name: server, type: $0.type, ttl: UInt32($0.ttl ?? 300), values: $0.values) }
            }
            return .referral(ns: DNSRecordSet(name: name, type: "NS", ttl: UInt32(ns.ttl ?? 172_800), values: ns.values), glue: glue)
        }
        var owner = query
        if records(query).isEmpty {
            // Names below this one make it an empty non-terminal (NODATA), not a missing name.
            if snap.ancestors.contains(zone.id + "|" + query) { return .noData(soa: soa) }
            // A wildcard covers names with no records of their own.
            owner = "*." + (query.split(separator: ".", maxSplits: 1).last.map(String.init) ?? "")
            if records(owner).isEmpty { return .nxDomain(soa: soa) }
        }
        /// The record sets of one name and type that answer this client, as DNS record sets.
        func routed(_ n: String, _ t: String, as answerName: String) -> [DNSRecordSet] {
            let candidates = records(n).filter { $0.type == t }
            if candidates.contains(where: { !$0.setIdentifier.isEmpty || $0.alias != nil }) { reusable = false }
            let chosen = decision.choose(candidates)
            return chosen.compactMap { r in
                guard let text = r.alias else { return DNSRecordSet(name: answerName, type: r.type, ttl: UInt32(r.ttl ?? 300), values: r.values) }
                // An alias answers with its target: another record of the zone, or an AWS resource's address.
                let target = Self.fqdn(ShapeValue(storageText: text)["DNSName"]?.string ?? "")
                var values = decision.choose(records(target).filter { $0.alias == nil && $0.type == r.type }).flatMap(\.values)
                if values.isEmpty { values = aliasTargets(target, r.type) }
                return values.isEmpty ? nil : DNSRecordSet(name: answerName, type: r.type, ttl: 60, values: values)
            }
        }
        let here = records(owner)
        let types = type == "ANY" ? Array(Set(here.map(\.type))).sorted() : [type]
        let matching = types.flatMap { routed(owner, $0, as: query) }
        if !matching.isEmpty { return .records(matching) }
        if here.contains(where: { $0.type == "CNAME" }), let cname = routed(owner, "CNAME", as: query).first {
            // Follow the CNAME chain through Kumo's zones, as an authoritative server does (at most 8 links).
            var out = [cname]
            if depth < 8, let target = cname.values.first.map(Self.fqdn),
                case .records(let more) = answer(
                    name: target, type: type, client: client, snap: snap, privateZones: privateZones, depth: depth + 1, reusable: &reusable)
            {
                out += more
            }
            return .records(out)
        }
        return .noData(soa: soa)
    }

    /// TestDNSAnswer: what the DNS server answers for a name and type, as asked by a resolver
    /// at `resolverip` (or for the client subnet `edns0clientsubnetip`).
    func testDNSAnswer(_ call: OperationCall) async throws -> ShapeValue {
        let name = Self.fqdn(call.input["RecordName"]?.string ?? "")
        let type = call.input["RecordType"]?.string ?? "A"
        let zoneId = call.input["HostedZoneId"]?.string ?? ""
        let zone = try await store.read { db in try self.zone(db, zoneId, account: call.context.accountId) }
        guard name == zone.name || name.hasSuffix("." + zone.name) else {
            throw Self.invalidInput("The record name \(name) is not in the hosted zone \(zone.name).")
        }
        let client = DNSClient(
            address: call.input["ResolverIP"]?.string ?? "127.0.0.1", subnet: call.input["EDNS0ClientSubnetIP"]?.string,
            subnetPrefix: Int(call.input["EDNS0ClientSubnetMask"]?.string ?? "") ?? 0)
        let answer = try await self.answer(name: name, type: type, client: client)
        var code = "NOERROR"
        var data: [String] = []
        switch answer {
        case .records(let sets): data = sets.filter { $0.type == type }.flatMap(\.values)
        case .noData, .referral: break
        case .nxDomain: code = "NXDOMAIN"
        case .refused: code = "REFUSED"
        }
        return [
            "Nameserver": .string(String(Self.nameServers[0].dropLast())), "RecordName": .string(name), "RecordType": .string(type),
            "RecordData": .list(data.map { .string($0) }), "ResponseCode": .string(code), "Protocol": "UDP",
        ]
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
