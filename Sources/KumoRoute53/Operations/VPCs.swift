import GRDB
import KumoCore
import KumoProtocols
import KumoStore

/// Private hosted zones: answered only to queries from the instances of their VPCs.
extension Route53 {
    /// The VPC of a request, checked to exist in EC2.
    func checkedVPC(_ vpc: ShapeValue, call: OperationCall) async throws -> (id: String, region: String) {
        let id = vpc["VPCId"]?.string ?? ""
        let region = vpc["VPCRegion"]?.string ?? call.context.region
        guard let directory, await directory.vpcExists(id: id, account: call.context.accountId, region: region) else {
            throw AWSError(code: "InvalidVPCId", message: "The VPC ID '\(id)' is not valid in region \(region).")
        }
        return (id, region)
    }

    func associateVPCWithHostedZone(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["HostedZoneId"]?.string ?? ""
        let vpc = try await checkedVPC(call.input["VPC"] ?? .empty, call: call)
        let change = ChangeRecord(id: Self.newId("C"), submitted: clock.now, comment: call.input["Comment"]?.string)
        try await write { db in
            let zone = try self.zone(db, id, account: account)
            guard zone.isPrivate else {
                throw AWSError(
                    code: "PublicZoneVPCAssociation",
                    message: "You're trying to associate a VPC with a public hosted zone. Route 53 doesn't support associating a VPC with a public hosted zone.")
            }
            let sameName = try ZoneVPCRecord.filter(Column("vpcId") == vpc.id).fetchAll(db).filter { a in
                try a.zoneId != zone.id && ZoneRecord.fetchOne(db, key: a.zoneId)?.name == zone.name
            }
            if !sameName.isEmpty {
                throw AWSError(
                    code: "ConflictingDomainExists",
                    message: "The VPC \(vpc.id) is already associated with another private hosted zone named \(zone.name).")
            }
            try ZoneVPCRecord(zoneId: zone.id, vpcId: vpc.id, vpcRegion: vpc.region).save(db)
            try change.insert(db)
        }
        return ["ChangeInfo": changeInfo(change)]
    }

    func disassociateVPCFromHostedZone(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let id = call.input["HostedZoneId"]?.string ?? ""
        let vpcId = call.input["VPC"]?["VPCId"]?.string ?? ""
        let change = ChangeRecord(id: Self.newId("C"), submitted: clock.now, comment: call.input["Comment"]?.string)
        try await write { db in
            let zone = try self.zone(db, id, account: account)
            let associations = try ZoneVPCRecord.filter(Column("zoneId") == zone.id).fetchAll(db)
            guard let association = associations.first(where: { $0.vpcId == vpcId }) else {
                throw AWSError(
                    code: "VPCAssociationNotFound", message: "The specified VPC \(vpcId) and hosted zone are not currently associated.",
                    status: 404)
            }
            guard associations.count > 1 else {
                throw AWSError(
                    code: "LastVPCAssociation",
                    message: "The VPC that you're trying to disassociate from the private hosted zone is the last VPC that is associated with the hosted zone. Route 53 doesn't support disassociating the last VPC from a hosted zone.")
            }
            _ = try association.delete(db)
            try change.insert(db)
        }
        return ["ChangeInfo": changeInfo(change)]
    }

    func listHostedZonesByVPC(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let vpcId = call.input["VPCId"]?.string ?? ""
        let max = Int(call.input["MaxItems"]?.string ?? "") ?? 100
        let zones = try await store.read { db -> [ZoneRecord] in
            try ZoneVPCRecord.filter(Column("vpcId") == vpcId).fetchAll(db).compactMap { try ZoneRecord.fetchOne(db, key: $0.zoneId) }
                .filter { $0.accountId == account }
                .sorted { $0.name < $1.name }
        }
        return [
            "HostedZoneSummaries": .list(zones.prefix(max).map { z in
                ["HostedZoneId": .string(z.id), "Name": .string(z.name), "Owner": ["OwningAccount": .string(z.accountId)]]
            }),
            "MaxItems": .string(String(max)),
        ]
    }
}
