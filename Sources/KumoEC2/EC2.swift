import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// EC2's control plane: the default network of each region, security groups, tags and
/// instances in the store; `supervisor` runs each instance as real processes.
struct EC2: Sendable {
    let store: Store
    let clock: KumoClock
    let supervisor: InstanceSupervisor

    static let zoneSuffixes = ["a", "b", "c"]

    static func zoneId(_ region: String, _ index: Int) -> String {
        let parts = region.split(separator: "-")
        let short = parts.count >= 3 ? "\(parts[0])\(parts[1].prefix(1))\(parts[2])" : region
        return "\(short)-az\(index + 1)"
    }

    /// The default VPC of a region (172.31.0.0/16), one default subnet per availability
    /// zone and the VPC's default security group, made the first time a region is used.
    func ensureDefaults(_ db: Database, account: String, region: String) throws {
        let exists = try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "vpc")
            .fetchCount(db) > 0
        guard !exists else { return }
        let vpcId = ResourceID.ec2("vpc")
        let vpc: ShapeValue = [
            "VpcId": .string(vpcId), "CidrBlock": "172.31.0.0/16", "State": "available", "IsDefault": true, "OwnerId": .string(account),
            "InstanceTenancy": "default", "DhcpOptionsId": .string(ResourceID.ec2("dopt")),
            "CidrBlockAssociationSet": [["CidrBlock": "172.31.0.0/16", "AssociationId": .string(ResourceID.ec2("vpc-cidr-assoc")),
                                        "CidrBlockState": ["State": "associated"]]],
        ]
        try ResourceRecord(id: vpcId, accountId: account, region: region, type: "vpc", vpcId: vpcId, body: vpc.storageText).insert(db)
        for (i, suffix) in Self.zoneSuffixes.enumerated() {
            let subnetId = ResourceID.ec2("subnet")
            let subnet: ShapeValue = [
                "SubnetId": .string(subnetId), "VpcId": .string(vpcId), "CidrBlock": .string("172.31.\(i * 16).0/20"),
                "AvailabilityZone": .string(region + suffix), "AvailabilityZoneId": .string(Self.zoneId(region, i)),
                "AvailableIpAddressCount": 4091, "DefaultForAz": true, "MapPublicIpOnLaunch": true, "State": "available",
                "OwnerId": .string(account), "SubnetArn": .string("arn:aws:ec2:\(region):\(account):subnet/\(subnetId)"),
            ]
            try ResourceRecord(id: subnetId, accountId: account, region: region, type: "subnet", vpcId: vpcId, body: subnet.storageText).insert(db)
        }
        try defaultSecurityGroup(db, account: account, region: region, vpcId: vpcId)
        // The default VPC's internet gateway, and its main route table sending 0.0.0.0/0 there.
        let gatewayId = ResourceID.ec2("igw")
        let gateway: ShapeValue = [
            "InternetGatewayId": .string(gatewayId), "OwnerId": .string(account), "Attachments": [["VpcId": .string(vpcId), "State": "available"]],
        ]
        try ResourceRecord(id: gatewayId, accountId: account, region: region, type: "internet-gateway", vpcId: vpcId, body: gateway.storageText).insert(db)
        try vpcCompanions(db, account: account, region: region, vpcId: vpcId, cidr: "172.31.0.0/16", internetGateway: gatewayId)
    }

    /// Resources of one type in the caller's account and region (made on first use).
    func resources(_ call: OperationCall, type: String) async throws -> [(ResourceRecord, ShapeValue)] {
        let account = call.context.accountId, region = call.context.region
        let rows = try await store.write { db -> [ResourceRecord] in
            try self.ensureDefaults(db, account: account, region: region)
            return try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == type)
                .order(Column("id")).fetchAll(db)
        }
        let tags = try await tags(for: rows.map(\.id))
        return rows.map { r in
            var shape = ShapeValue(storageText: r.body)
            if case .structure(var m) = shape {
                m["Tags"] = Self.tagList(tags[r.id] ?? [:])
                shape = .structure(m)
            }
            return (r, shape)
        }
    }

    func tags(for ids: [String]) async throws -> [String: [String: String]] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await store.read { db in try TagRecord.filter(ids.contains(Column("resourceId"))).fetchAll(db) }
        var out: [String: [String: String]] = [:]
        for t in rows { out[t.resourceId, default: [:]][t.key] = t.value }
        return out
    }

    static func tagList(_ tags: [String: String]) -> ShapeValue {
        .list(tags.sorted { $0.key < $1.key }.map { ["Key": .string($0.key), "Value": .string($0.value)] })
    }

    /// Tags of `TagSpecifications` for one resource type.
    static func specifiedTags(_ input: ShapeValue, resourceType: String) -> [(String, String)] {
        (input["TagSpecifications"]?.list ?? []).filter { $0["ResourceType"]?.string == resourceType }.flatMap { spec in
            (spec["Tags"]?.list ?? []).map { ($0["Key"]?.string ?? "", $0["Value"]?.string ?? "") }
        }
    }



    /// The ids a Describe call asked for, answering AWS's not-found error for the first missing one.
    static func requireIds(_ asked: [String], found: Set<String>, notFound: (String) -> AWSError) throws {
        if let missing = asked.first(where: { !found.contains($0) }) { throw notFound(missing) }
    }

    /// One page of a Describe result (MaxResults, NextToken).
    static func page<T>(_ items: [T], _ input: ShapeValue) throws -> (items: [T], next: String?) {
        try PageToken.page(
            items, after: input["NextToken"]?.string, limit: input["MaxResults"]?.int ?? items.count,
            invalid: AWSError(code: "InvalidParameterValue", message: "Unable to parse pagination token"))
    }
}

extension AWSError {
    static func ec2NotFound(_ code: String, _ message: String) -> AWSError { AWSError(code: code, message: message) }

    static func invalidInstanceId(_ id: String) -> AWSError {
        AWSError(code: "InvalidInstanceID.NotFound", message: "The instance ID '\(id)' does not exist")
    }

    static func invalidSubnetId(_ id: String) -> AWSError {
        AWSError(code: "InvalidSubnetID.NotFound", message: "The subnet ID '\(id)' does not exist")
    }

    static func invalidGroupId(_ id: String) -> AWSError {
        AWSError(code: "InvalidGroup.NotFound", message: "The security group '\(id)' does not exist")
    }
}
