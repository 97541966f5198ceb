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
    func zoneShape(_ z: ZoneRecord, count: Int) -> ShapeValue {
        var config: [String: ShapeValue] = ["PrivateZone": .boolean(z.isPrivate)]
        if let c = z.comment { config["Comment"] = .string(c) }
        return [
            "Id": .string("/hostedzone/" + z.id), "Name": .string(z.name), "CallerReference": .string(z.callerReference),
            "Config": .structure(config), "ResourceRecordSetCount": .integer(Int64(count)),
        ]
    }

    static var delegationSet: ShapeValue { ["NameServers": .list(nameServers.map { .string($0) })] }

    func changeInfo(_ c: ChangeRecord) -> ShapeValue {
        var out: [String: ShapeValue] = ["Id": .string("/change/" + c.id), "Status": "INSYNC", "SubmittedAt": .timestamp(c.submitted)]
        if let comment = c.comment { out["Comment"] = .string(comment) }
        return .structure(out)
    }

    func zone(_ db: Database, _ id: String, account: String) throws -> ZoneRecord {
        let bare = Self.bareId(id)
        guard let z = try ZoneRecord.fetchOne(db, key: bare), z.accountId == account else { throw AWSError.noSuchHostedZone(bare) }
        return z
    }

    func createHostedZone(_ call: OperationCall) async throws -> ShapeValue {
        let name = Self.fqdn(call.input["Name"]?.string ?? "")
        let labels = name.split(separator: ".")
        guard !labels.isEmpty, labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 }), name.count <= 255 else {
            throw AWSError(code: "InvalidDomainName", message: "\(name) is reserved by AWS!")
        }
        let reference = call.input["CallerReference"]?.string ?? ""
        let account = call.context.accountId
        let now = clock.now
        let zone = ZoneRecord(
            id: Self.newId("Z"), accountId: account, name: name, callerReference: reference,
            isPrivate: call.input["VPC"] != nil || call.input["HostedZoneConfig"]?["PrivateZone"]?.bool == true,
            comment: call.input["HostedZoneConfig"]?["Comment"]?.string, created: now)
        let change = ChangeRecord(id: Self.newId("C"), submitted: now, comment: nil)
        var vpc: (id: String, region: String)?
        if let requested = call.input["VPC"] { vpc = try await checkedVPC(requested, call: call) }
        let association = vpc
        try await write { db in
            if try ZoneRecord.filter(Column("accountId") == account && Column("callerReference") == reference).fetchCount(db) > 0 {
                throw AWSError(
                    code: "HostedZoneAlreadyExists",
                    message: "A hosted zone has already been created with the specified caller reference.", status: 409)
            }
            try zone.insert(db)
            try RecordSetRecord(
                zoneId: zone.id, name: name, type: "SOA", setIdentifier: "", ttl: 900,
                values: ["\(Self.nameServers[0]) awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"], alias: nil
            ).insert(db)
            try RecordSetRecord(zoneId: zone.id, name: name, type: "NS", setIdentifier: "", ttl: 172_800, values: Self.nameServers, alias: nil)
                .insert(db)
            if let vpc = association { try ZoneVPCRecord(zoneId: zone.id, vpcId: vpc.id, vpcRegion: vpc.region).insert(db) }
            try change.insert(db)
        }
        var out: [String: ShapeValue] = [
            "HostedZone": zoneShape(zone, count: 2), "ChangeInfo": changeInfo(change),
            "Location": .string("https://route53.amazonaws.com/2013-04-01/hostedzone/" + zone.id),
        ]
        // A private zone has no public name servers; it names its VPC instead.
        if let vpc { out["VPC"] = ["VPCId": .string(vpc.id), "VPCRegion": .string(vpc.region)] } else { out["DelegationSet"] = Self.delegationSet }
        return .structure(out)
    }

    func getHostedZone(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["Id"]?.string ?? ""
        let (z, count, vpcs) = try await store.read { db -> (ZoneRecord, Int, [ZoneVPCRecord]) in
            let z = try self.zone(db, id, account: account)
            return (
                z, try RecordSetRecord.filter(Column("zoneId") == z.id).fetchCount(db),
                try ZoneVPCRecord.filter(Column("zoneId") == z.id).order(Column("vpcId")).fetchAll(db)
            )
        }
        guard z.isPrivate else { return ["HostedZone": zoneShape(z, count: count), "DelegationSet": Self.delegationSet] }
        return [
            "HostedZone": zoneShape(z, count: count),
            "VPCs": .list(vpcs.map { ["VPCId": .string($0.vpcId), "VPCRegion": .string($0.vpcRegion)] }),
        ]
    }

    func listHostedZones(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let max = Int(call.input["MaxItems"]?.string ?? "") ?? 100
        let marker = call.input["Marker"]?.string.map(Self.bareId) ?? ""
        let zones = try await store.read { db -> [(ZoneRecord, Int)] in
            try ZoneRecord.filter(Column("accountId") == account && Column("id") > marker).order(Column("id")).fetchAll(db).map { z in
                (z, try RecordSetRecord.filter(Column("zoneId") == z.id).fetchCount(db))
            }
        }
        let page = zones.prefix(max)
        var out: [String: ShapeValue] = [
            "HostedZones": .list(page.map { zoneShape($0.0, count: $0.1) }), "IsTruncated": .boolean(zones.count > max),
            "MaxItems": .string(String(max)), "Marker": .string(marker),
        ]
        if zones.count > max, let last = page.last { out["NextMarker"] = .string(last.0.id) }
        return .structure(out)
    }

    func deleteHostedZone(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["Id"]?.string ?? ""
        let change = ChangeRecord(id: Self.newId("C"), submitted: clock.now, comment: nil)
        try await write { db in
            let z = try self.zone(db, id, account: account)
            let extra = try RecordSetRecord.filter(Column("zoneId") == z.id)
                .filter(!(Column("name") == z.name && ["SOA", "NS"].contains(Column("type")))).fetchCount(db)
            guard extra == 0 else {
                throw AWSError(
                    code: "HostedZoneNotEmpty",
                    message: "The specified hosted zone contains non-required resource record sets and so cannot be deleted.")
            }
            _ = try z.delete(db)
            try change.insert(db)
        }
        return ["ChangeInfo": changeInfo(change)]
    }

    func getChange(_ call: OperationCall) async throws -> ShapeValue {
        let id = Self.bareId(call.input["Id"]?.string ?? "")
        guard let c = try await store.read({ db in try ChangeRecord.fetchOne(db, key: id) }) else {
            throw AWSError(code: "NoSuchChange", message: "A change with the specified change ID does not exist.", status: 404)
        }
        return ["ChangeInfo": changeInfo(c)]
    }
}

extension Route53 {
    func getHostedZoneCount(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let n = try await store.read { db in try ZoneRecord.filter(Column("accountId") == account).fetchCount(db) }
        return ["HostedZoneCount": .integer(Int64(n))]
    }

    func listHostedZonesByName(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let max = Int(call.input["MaxItems"]?.string ?? "") ?? 100
        let start = call.input["DNSName"]?.string.map(Self.fqdn)
        func order(_ name: String) -> String { name.split(separator: ".").reversed().joined(separator: ".") }
        var zones = try await store.read { db -> [(ZoneRecord, Int)] in
            try ZoneRecord.filter(Column("accountId") == account).fetchAll(db).map { z in
                (z, try RecordSetRecord.filter(Column("zoneId") == z.id).fetchCount(db))
            }
        }
        zones.sort { (order($0.0.name), $0.0.id) < (order($1.0.name), $1.0.id) }
        if let start { zones = zones.filter { order($0.0.name) >= order(start) } }
        let page = zones.prefix(max)
        var out: [String: ShapeValue] = [
            "HostedZones": .list(page.map { zoneShape($0.0, count: $0.1) }), "IsTruncated": .boolean(zones.count > max),
            "MaxItems": .string(String(max)),
        ]
        if let start { out["DNSName"] = .string(start) }
        if zones.count > max {
            out["NextDNSName"] = .string(zones[max].0.name)
            out["NextHostedZoneId"] = .string(zones[max].0.id)
        }
        return .structure(out)
    }

    func updateHostedZoneComment(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["Id"]?.string ?? ""
        let comment = call.input["Comment"]?.string
        let (z, count) = try await write { db -> (ZoneRecord, Int) in
            var z = try self.zone(db, id, account: account)
            z.comment = comment
            try z.update(db)
            return (z, try RecordSetRecord.filter(Column("zoneId") == z.id).fetchCount(db))
        }
        return ["HostedZone": zoneShape(z, count: count)]
    }
}
