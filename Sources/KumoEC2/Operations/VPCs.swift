import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An IPv4 block as numbers: for "inside the VPC" and "overlaps another subnet".
struct IPv4Block: Equatable {
    var start: UInt32
    var prefix: Int
    var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    var end: UInt64 { UInt64(start) + size - 1 }

    /// A block in canonical form (no host bits set), as EC2 requires.
    init?(_ text: String) {
        guard let cidr = CIDR(text), cidr.bytes.count == 4 else { return nil }
        let value = cidr.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = cidr.prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - cidr.prefix)
        guard value & ~mask == 0 else { return nil }
        start = value
        prefix = cidr.prefix
    }

    func contains(_ other: IPv4Block) -> Bool { other.start >= start && other.end <= end }
    func overlaps(_ other: IPv4Block) -> Bool { UInt64(start) <= other.end && UInt64(other.start) <= end }
}

extension EC2 {
    static func rangeError(_ kind: String, _ cidr: String) -> AWSError {
        AWSError(code: "Invalid\(kind).Range", message: "The CIDR '\(cidr)' is invalid.")
    }

    static func dependencyViolation(_ what: String, _ id: String) -> AWSError {
        AWSError(code: "DependencyViolation", message: "The \(what) '\(id)' has dependencies and cannot be deleted.")
    }

    static func vpcNotFound(_ id: String) -> AWSError { AWSError(code: "InvalidVpcID.NotFound", message: "The vpc ID '\(id)' does not exist") }

    /// A resource of a type in the caller's scope, or `notFound`.
    func resource(_ db: Database, _ id: String, type: String, _ call: OperationCall, notFound: (String) -> AWSError) throws -> ResourceRecord {
        guard let r = try ResourceRecord.fetchOne(db, key: id), r.type == type, r.accountId == call.context.accountId, r.region == call.context.region
        else { throw notFound(id) }
        return r
    }

    func insert(_ db: Database, _ call: OperationCall, id: String, type: String, vpcId: String?, _ shape: ShapeValue, tagType: String) throws {
        try ResourceRecord(id: id, accountId: call.context.accountId, region: call.context.region, type: type, vpcId: vpcId, body: shape.storageText)
            .insert(db)
        for (k, v) in Self.specifiedTags(call.input, resourceType: tagType) {
            try TagRecord(resourceId: id, key: k, value: v).insert(db, onConflict: .replace)
        }
    }

    func update(_ db: Database, _ record: ResourceRecord, _ change: (inout [String: ShapeValue]) throws -> Void) throws {
        var r = record
        var m = ShapeValue(storageText: r.body).members ?? [:]
        try change(&m)
        r.body = ShapeValue.structure(m).storageText
        try r.update(db)
    }

    /// The shape as Create* answers it: with the tags just given.
    func created(_ call: OperationCall, _ shape: ShapeValue, tagType: String) -> ShapeValue {
        guard case .structure(var m) = shape else { return shape }
        m["Tags"] = Self.tagList(Dictionary(Self.specifiedTags(call.input, resourceType: tagType), uniquingKeysWith: { _, b in b }))
        return .structure(m)
    }

    /// A VPC's main route table: its local route, and a default route when it has an internet gateway.
    func vpcCompanions(_ db: Database, account: String, region: String, vpcId: String, cidr: String, internetGateway: String? = nil) throws {
        let tableId = ResourceID.ec2("rtb")
        var routes: [ShapeValue] = [["DestinationCidrBlock": .string(cidr), "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"]]
        if let internetGateway {
            routes.append(["DestinationCidrBlock": "0.0.0.0/0", "GatewayId": .string(internetGateway), "Origin": "CreateRoute", "State": "active"])
        }
        let table: ShapeValue = [
            "RouteTableId": .string(tableId), "VpcId": .string(vpcId), "OwnerId": .string(account), "Routes": .list(routes),
            "Associations": [["Main": true, "RouteTableAssociationId": .string(ResourceID.ec2("rtbassoc")), "RouteTableId": .string(tableId),
                              "AssociationState": ["State": "associated"]]],
            "PropagatingVgws": [],
        ]
        try ResourceRecord(id: tableId, accountId: account, region: region, type: "route-table", vpcId: vpcId, body: table.storageText).insert(db)
    }

    /// A VPC's default security group: all traffic from its own members in, everything out.
    func defaultSecurityGroup(_ db: Database, account: String, region: String, vpcId: String) throws {
        let groupId = ResourceID.ec2("sg")
        let group: ShapeValue = [
            "GroupId": .string(groupId), "GroupName": "default", "Description": "default VPC security group", "VpcId": .string(vpcId),
            "OwnerId": .string(account), "SecurityGroupArn": .string("arn:aws:ec2:\(region):\(account):security-group/\(groupId)"),
            "IpPermissions": [["IpProtocol": "-1", "UserIdGroupPairs": [["GroupId": .string(groupId), "UserId": .string(account)]]]],
            "IpPermissionsEgress": [["IpProtocol": "-1", "IpRanges": [["CidrIp": "0.0.0.0/0"]]]],
        ]
        try ResourceRecord(id: groupId, accountId: account, region: region, type: "security-group", vpcId: vpcId, body: group.storageText).insert(db)
    }

    // MARK: VPCs

    func createVpc(_ call: OperationCall) async throws -> ShapeValue {
        let cidr = call.input["CidrBlock"]?.string ?? ""
        guard let block = IPv4Block(cidr), (16...28).contains(block.prefix) else { throw Self.rangeError("Vpc", cidr) }
        let account = call.context.accountId, region = call.context.region
        let vpcId = ResourceID.ec2("vpc")
        let vpc: ShapeValue = [
            "VpcId": .string(vpcId), "CidrBlock": .string(cidr), "State": "available", "IsDefault": false, "OwnerId": .string(account),
            "InstanceTenancy": .string(call.input["InstanceTenancy"]?.string ?? "default"), "DhcpOptionsId": .string(ResourceID.ec2("dopt")),
            "CidrBlockAssociationSet": [["CidrBlock": .string(cidr), "AssociationId": .string(ResourceID.ec2("vpc-cidr-assoc")),
                                        "CidrBlockState": ["State": "associated"]]],
            "KumoEnableDnsSupport": true, "KumoEnableDnsHostnames": false,
        ]
        try await store.write { db in
            try self.ensureDefaults(db, account: account, region: region)
            try self.insert(db, call, id: vpcId, type: "vpc", vpcId: vpcId, vpc, tagType: "vpc")
            try self.vpcCompanions(db, account: account, region: region, vpcId: vpcId, cidr: cidr)
            try self.defaultSecurityGroup(db, account: account, region: region, vpcId: vpcId)
        }
        return ["Vpc": created(call, vpc, tagType: "vpc")]
    }

    func deleteVpc(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["VpcId"]?.string ?? ""
        try await store.write { db in
            let vpc = try self.resource(db, id, type: "vpc", call, notFound: Self.vpcNotFound)
            let inside = try ResourceRecord.filter(Column("vpcId") == id && Column("id") != id).fetchAll(db)
            let blocking = inside.contains { r in
                let shape = ShapeValue(storageText: r.body)
                switch r.type {
                case "security-group": return shape["GroupName"]?.string != "default"
                case "route-table": return !(shape["Associations"]?.list ?? []).contains { $0["Main"]?.bool == true }
                case "nat-gateway": return shape["State"]?.string != "deleted"
                default: return true
                }
            }
            let gateways = try ResourceRecord.filter(Column("type") == "internet-gateway" && Column("vpcId") == id).fetchCount(db)
            guard !blocking, gateways == 0 else { throw Self.dependencyViolation("vpc", id) }
            for r in inside { try TagRecord.filter(Column("resourceId") == r.id).deleteAll(db); try r.delete(db) }
            try TagRecord.filter(Column("resourceId") == id).deleteAll(db)
            try vpc.delete(db)
        }
        return ["Return": true]
    }

    func modifyVpcAttribute(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["VpcId"]?.string ?? ""
        let input = call.input
        try await store.write { db in
            let vpc = try self.resource(db, id, type: "vpc", call, notFound: Self.vpcNotFound)
            try self.update(db, vpc) { m in
                for name in ["EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics"] {
                    if let v = input[name]?["Value"]?.bool { m["Kumo" + name] = .boolean(v) }
                }
            }
        }
        return .empty
    }

    func describeVpcAttribute(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["VpcId"]?.string ?? ""
        let attribute = call.input["Attribute"]?.string ?? ""
        let member = ["enableDnsSupport": "EnableDnsSupport", "enableDnsHostnames": "EnableDnsHostnames",
                      "enableNetworkAddressUsageMetrics": "EnableNetworkAddressUsageMetrics"][attribute]
        guard let member else {
            throw AWSError(code: "InvalidParameterValue", message: "Value (\(attribute)) for parameter attribute is invalid. Unknown attribute.")
        }
        let vpc = try await store.read { db in try self.resource(db, id, type: "vpc", call, notFound: Self.vpcNotFound) }
        let shape = ShapeValue(storageText: vpc.body)
        let value = shape["Kumo" + member]?.bool ?? (member == "EnableDnsSupport" || shape["IsDefault"]?.bool == true)
        var out: [String: ShapeValue] = ["VpcId": .string(id)]
        out[member] = ["Value": .boolean(value)]
        return .structure(out)
    }

    // MARK: subnets

    func createSubnet(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let vpcId = input["VpcId"]?.string ?? ""
        let cidr = input["CidrBlock"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let subnetId = ResourceID.ec2("subnet")
        let shape = try await store.write { db -> ShapeValue in
            try self.ensureDefaults(db, account: account, region: region)
            let vpc = try self.resource(db, vpcId, type: "vpc", call, notFound: Self.vpcNotFound)
            guard let block = IPv4Block(cidr), (16...28).contains(block.prefix),
                let vpcBlock = IPv4Block(ShapeValue(storageText: vpc.body)["CidrBlock"]?.string ?? ""), vpcBlock.contains(block)
            else { throw Self.rangeError("Subnet", cidr) }
            for other in try ResourceRecord.filter(Column("type") == "subnet" && Column("vpcId") == vpcId).fetchAll(db) {
                if let b = IPv4Block(ShapeValue(storageText: other.body)["CidrBlock"]?.string ?? ""), b.overlaps(block) {
                    throw AWSError(code: "InvalidSubnet.Conflict", message: "The CIDR '\(cidr)' conflicts with another subnet")
                }
            }
            var zoneIndex = 0
            if let zone = input["AvailabilityZone"]?.string {
                guard let i = Self.zoneSuffixes.firstIndex(where: { region + $0 == zone }) else {
                    throw AWSError(code: "InvalidParameterValue", message: "Value (\(zone)) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: \(Self.zoneSuffixes.map { region + $0 }.joined(separator: ", ")).")
                }
                zoneIndex = i
            } else if let zoneId = input["AvailabilityZoneId"]?.string {
                guard let i = Self.zoneSuffixes.indices.first(where: { Self.zoneId(region, $0) == zoneId }) else {
                    throw AWSError(code: "InvalidParameterValue", message: "Value (\(zoneId)) for parameter availabilityZoneId is invalid.")
                }
                zoneIndex = i
            }
            let subnet: ShapeValue = [
                "SubnetId": .string(subnetId), "VpcId": .string(vpcId), "CidrBlock": .string(cidr),
                "AvailabilityZone": .string(region + Self.zoneSuffixes[zoneIndex]), "AvailabilityZoneId": .string(Self.zoneId(region, zoneIndex)),
                "AvailableIpAddressCount": .integer(Int64(block.size) - 5), "DefaultForAz": false, "MapPublicIpOnLaunch": false,
                "State": "available", "OwnerId": .string(account), "SubnetArn": .string("arn:aws:ec2:\(region):\(account):subnet/\(subnetId)"),
                "AssignIpv6AddressOnCreation": false, "Ipv6CidrBlockAssociationSet": [],
            ]
            try self.insert(db, call, id: subnetId, type: "subnet", vpcId: vpcId, subnet, tagType: "subnet")
            return subnet
        }
        return ["Subnet": created(call, shape, tagType: "subnet")]
    }

    func deleteSubnet(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["SubnetId"]?.string ?? ""
        try await store.write { db in
            let subnet = try self.resource(db, id, type: "subnet", call, notFound: AWSError.invalidSubnetId)
            let running = try InstanceRecord.filter(Column("subnetId") == id && Column("state") != "terminated").fetchCount(db)
            let gateways = try ResourceRecord.filter(Column("type") == "nat-gateway").fetchAll(db)
                .filter { ShapeValue(storageText: $0.body)["SubnetId"]?.string == id && ShapeValue(storageText: $0.body)["State"]?.string != "deleted" }
            guard running == 0, gateways.isEmpty else { throw Self.dependencyViolation("subnet", id) }
            // Its route table associations go with it.
            for table in try ResourceRecord.filter(Column("type") == "route-table" && Column("vpcId") == subnet.vpcId).fetchAll(db) {
                try self.update(db, table) { m in m["Associations"] = .list((m["Associations"]?.list ?? []).filter { $0["SubnetId"]?.string != id }) }
            }
            try TagRecord.filter(Column("resourceId") == id).deleteAll(db)
            try subnet.delete(db)
        }
        return .empty
    }

    func modifySubnetAttribute(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["SubnetId"]?.string ?? ""
        let input = call.input
        try await store.write { db in
            let subnet = try self.resource(db, id, type: "subnet", call, notFound: AWSError.invalidSubnetId)
            try self.update(db, subnet) { m in
                for name in ["MapPublicIpOnLaunch", "AssignIpv6AddressOnCreation", "EnableDns64"] {
                    if let v = input[name]?["Value"]?.bool { m[name] = .boolean(v) }
                }
            }
        }
        return .empty
    }
}

