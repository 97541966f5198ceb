import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Internet and NAT gateways, route tables and Elastic IPs: recorded as EC2 answers them (Kumo's
/// instances reach each other and the internet through the host; these shape nothing yet).
extension EC2 {
    static func gatewayNotFound(_ id: String) -> AWSError {
        AWSError(code: "InvalidInternetGatewayID.NotFound", message: "The internetGateway ID '\(id)' does not exist")
    }
    static func routeTableNotFound(_ id: String) -> AWSError {
        AWSError(code: "InvalidRouteTableID.NotFound", message: "The routeTable ID '\(id)' does not exist")
    }
    static func allocationNotFound(_ id: String) -> AWSError {
        AWSError(code: "InvalidAllocationID.NotFound", message: "The allocation ID '\(id)' does not exist")
    }
    static func natGatewayNotFound(_ id: String) -> AWSError {
        AWSError(code: "NatGatewayNotFound", message: "The Nat Gateway \(id) was not found")
    }

    // MARK: internet gateways

    func createInternetGateway(_ call: OperationCall) async throws -> ShapeValue {
        let id = ResourceID.ec2("igw")
        let shape: ShapeValue = ["InternetGatewayId": .string(id), "OwnerId": .string(call.context.accountId), "Attachments": []]
        try await store.write { db in try self.insert(db, call, id: id, type: "internet-gateway", vpcId: nil, shape, tagType: "internet-gateway") }
        return ["InternetGateway": created(call, shape, tagType: "internet-gateway")]
    }

    func attachInternetGateway(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["InternetGatewayId"]?.string ?? "", vpcId = call.input["VpcId"]?.string ?? ""
        try await store.write { db in
            var gateway = try self.resource(db, id, type: "internet-gateway", call, notFound: Self.gatewayNotFound)
            _ = try self.resource(db, vpcId, type: "vpc", call, notFound: Self.vpcNotFound)
            if let attached = gateway.vpcId {
                throw AWSError(code: "Resource.AlreadyAssociated", message: "resource \(id) is already attached to network \(attached)")
            }
            if try ResourceRecord.filter(Column("type") == "internet-gateway" && Column("vpcId") == vpcId).fetchCount(db) > 0 {
                throw AWSError(code: "InvalidParameterValue", message: "Network \(vpcId) already has an internet gateway attached")
            }
            gateway.vpcId = vpcId
            try self.update(db, gateway) { m in m["Attachments"] = [["VpcId": .string(vpcId), "State": "available"]] }
        }
        return .empty
    }

    func detachInternetGateway(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["InternetGatewayId"]?.string ?? "", vpcId = call.input["VpcId"]?.string ?? ""
        try await store.write { db in
            var gateway = try self.resource(db, id, type: "internet-gateway", call, notFound: Self.gatewayNotFound)
            guard gateway.vpcId == vpcId else {
                throw AWSError(code: "Gateway.NotAttached", message: "resource \(id) is not attached to network \(vpcId)")
            }
            gateway.vpcId = nil
            try self.update(db, gateway) { m in m["Attachments"] = [] }
        }
        return .empty
    }

    func deleteInternetGateway(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["InternetGatewayId"]?.string ?? ""
        try await store.write { db in
            let gateway = try self.resource(db, id, type: "internet-gateway", call, notFound: Self.gatewayNotFound)
            guard gateway.vpcId == nil else { throw Self.dependencyViolation("internetGateway", id) }
            try TagRecord.filter(Column("resourceId") == id).deleteAll(db)
            try gateway.delete(db)
        }
        return .empty
    }

    func describeInternetGateways(_ call: OperationCall) async throws -> ShapeValue {
        try await describe(call, type: "internet-gateway", idsMember: "InternetGatewayIds", idField: "InternetGatewayId", output: "InternetGateways",
                           notFound: Self.gatewayNotFound)
    }

    // MARK: route tables

    func createRouteTable(_ call: OperationCall) async throws -> ShapeValue {
        let vpcId = call.input["VpcId"]?.string ?? ""
        let id = ResourceID.ec2("rtb")
        let shape = try await store.write { db -> ShapeValue in
            let vpc = try self.resource(db, vpcId, type: "vpc", call, notFound: Self.vpcNotFound)
            let cidr = ShapeValue(storageText: vpc.body)["CidrBlock"]?.string ?? ""
            let table: ShapeValue = [
                "RouteTableId": .string(id), "VpcId": .string(vpcId), "OwnerId": .string(call.context.accountId), "Associations": [],
                "Routes": [["DestinationCidrBlock": .string(cidr), "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"]],
                "PropagatingVgws": [],
            ]
            try self.insert(db, call, id: id, type: "route-table", vpcId: vpcId, table, tagType: "route-table")
            return table
        }
        return ["RouteTable": created(call, shape, tagType: "route-table")]
    }

    func deleteRouteTable(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["RouteTableId"]?.string ?? ""
        try await store.write { db in
            let table = try self.resource(db, id, type: "route-table", call, notFound: Self.routeTableNotFound)
            guard (ShapeValue(storageText: table.body)["Associations"]?.list ?? []).isEmpty else { throw Self.dependencyViolation("routeTable", id) }
            try TagRecord.filter(Column("resourceId") == id).deleteAll(db)
            try table.delete(db)
        }
        return .empty
    }

    /// The target member a route names (GatewayId, NatGatewayId, ...) and its value.
    static let routeTargets = [
        "GatewayId", "NatGatewayId", "InstanceId", "NetworkInterfaceId", "VpcPeeringConnectionId", "TransitGatewayId", "EgressOnlyInternetGatewayId",
        "LocalGatewayId", "CarrierGatewayId", "VpcEndpointId",
    ]

    func changeRoute(_ call: OperationCall, replace: Bool) async throws -> ShapeValue {
        let input = call.input
        let id = input["RouteTableId"]?.string ?? ""
        let destination = input["DestinationCidrBlock"]?.string ?? input["DestinationIpv6CidrBlock"]?.string ?? input["DestinationPrefixListId"]?.string ?? ""
        let targets = Self.routeTargets.compactMap { name in input[name]?.string.map { (name, $0) } }
        guard targets.count == 1, let target = targets.first else {
            throw AWSError(code: "InvalidParameterCombination", message: "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, instanceId, transitGatewayId, egressOnlyInternetGatewayId, localGatewayId, carrierGatewayId or vpcEndpointId")
        }
        guard destination.contains(":") || IPv4Block(destination) != nil || destination.hasPrefix("pl-") else {
            throw AWSError(code: "InvalidParameterValue", message: "Value (\(destination)) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.")
        }
        try await store.write { db in
            let table = try self.resource(db, id, type: "route-table", call, notFound: Self.routeTableNotFound)
            if target.0 == "GatewayId", target.1.hasPrefix("igw-") {
                let gateway = try self.resource(db, target.1, type: "internet-gateway", call, notFound: Self.gatewayNotFound)
                guard gateway.vpcId == table.vpcId else {
                    throw AWSError(code: "InvalidParameterValue", message: "route table \(id) and network gateway \(target.1) belong to different networks")
                }
            }
            if target.0 == "NatGatewayId" { _ = try self.resource(db, target.1, type: "nat-gateway", call, notFound: Self.natGatewayNotFound) }
            try self.update(db, table) { m in
                var routes = m["Routes"]?.list ?? []
                let key = input["DestinationCidrBlock"] != nil ? "DestinationCidrBlock" : input["DestinationIpv6CidrBlock"] != nil ? "DestinationIpv6CidrBlock" : "DestinationPrefixListId"
                let existing = routes.firstIndex { $0[key]?.string == destination }
                if let existing, routes[existing]["GatewayId"]?.string == "local" {
                    throw AWSError(code: "InvalidParameterValue", message: "cannot \(replace ? "replace" : "create") a route for the local destination \(destination)")
                }
                if replace {
                    guard let existing else {
                        throw AWSError(code: "InvalidRoute.NotFound", message: "no route with destination-cidr-block \(destination) in route table \(id)")
                    }
                    routes.remove(at: existing)
                } else if existing != nil {
                    throw AWSError(code: "RouteAlreadyExists", message: "The route identified by \(destination) already exists.")
                }
                var route: [String: ShapeValue] = [key: .string(destination), "Origin": "CreateRoute", "State": "active"]
                route[target.0] = .string(target.1)
                routes.append(.structure(route))
                m["Routes"] = .list(routes)
            }
        }
        return replace ? .empty : ["Return": true]
    }

    func createRoute(_ call: OperationCall) async throws -> ShapeValue { try await changeRoute(call, replace: false) }
    func replaceRoute(_ call: OperationCall) async throws -> ShapeValue { try await changeRoute(call, replace: true) }

    func deleteRoute(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["RouteTableId"]?.string ?? ""
        let destination = call.input["DestinationCidrBlock"]?.string ?? call.input["DestinationIpv6CidrBlock"]?.string ?? ""
        try await store.write { db in
            let table = try self.resource(db, id, type: "route-table", call, notFound: Self.routeTableNotFound)
            try self.update(db, table) { m in
                var routes = m["Routes"]?.list ?? []
                guard let i = routes.firstIndex(where: { ($0["DestinationCidrBlock"] ?? $0["DestinationIpv6CidrBlock"])?.string == destination }) else {
                    throw AWSError(code: "InvalidRoute.NotFound", message: "no route with destination-cidr-block \(destination) in route table \(id)")
                }
                guard routes[i]["GatewayId"]?.string != "local" else {
                    throw AWSError(code: "InvalidParameterValue", message: "cannot remove local route \(destination) in route table \(id)")
                }
                routes.remove(at: i)
                m["Routes"] = .list(routes)
            }
        }
        return .empty
    }

    func associateRouteTable(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["RouteTableId"]?.string ?? ""
        let subnetId = call.input["SubnetId"]?.string
        let gatewayId = call.input["GatewayId"]?.string
        let associationId = ResourceID.ec2("rtbassoc")
        try await store.write { db in
            let table = try self.resource(db, id, type: "route-table", call, notFound: Self.routeTableNotFound)
            var association: [String: ShapeValue] = [
                "Main": false, "RouteTableAssociationId": .string(associationId), "RouteTableId": .string(id), "AssociationState": ["State": "associated"],
            ]
            if let subnetId {
                let subnet = try self.resource(db, subnetId, type: "subnet", call, notFound: AWSError.invalidSubnetId)
                guard subnet.vpcId == table.vpcId else {
                    throw AWSError(code: "InvalidParameterValue", message: "Route table \(id) and subnet \(subnetId) belong to different networks")
                }
                for other in try ResourceRecord.filter(Column("type") == "route-table" && Column("vpcId") == table.vpcId).fetchAll(db)
                where (ShapeValue(storageText: other.body)["Associations"]?.list ?? []).contains(where: { $0["SubnetId"]?.string == subnetId }) {
                    throw AWSError(code: "Resource.AlreadyAssociated", message: "the specified association for route table \(other.id) conflicts with an existing association")
                }
                association["SubnetId"] = .string(subnetId)
            } else if let gatewayId {
                _ = try self.resource(db, gatewayId, type: "internet-gateway", call, notFound: Self.gatewayNotFound)
                association["GatewayId"] = .string(gatewayId)
            } else {
                throw AWSError(code: "MissingParameter", message: "Either subnet ID or gateway ID must be specified")
            }
            try self.update(db, table) { m in m["Associations"] = .list((m["Associations"]?.list ?? []) + [.structure(association)]) }
        }
        return ["AssociationId": .string(associationId), "AssociationState": ["State": "associated"]]
    }

    func disassociateRouteTable(_ call: OperationCall) async throws -> ShapeValue {
        let associationId = call.input["AssociationId"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        try await store.write { db in
            let tables = try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "route-table").fetchAll(db)
            for table in tables {
                let associations = ShapeValue(storageText: table.body)["Associations"]?.list ?? []
                guard let found = associations.first(where: { $0["RouteTableAssociationId"]?.string == associationId }) else { continue }
                guard found["Main"]?.bool != true else {
                    throw AWSError(code: "InvalidParameterValue", message: "cannot disassociate the main route table association \(associationId)")
                }
                try self.update(db, table) { m in m["Associations"] = .list(associations.filter { $0 != found }) }
                return
            }
            throw AWSError(code: "InvalidAssociationID.NotFound", message: "The association ID '\(associationId)' does not exist")
        }
        return .empty
    }

    func describeRouteTables(_ call: OperationCall) async throws -> ShapeValue {
        try await describe(call, type: "route-table", idsMember: "RouteTableIds", idField: "RouteTableId", output: "RouteTables",
                           notFound: Self.routeTableNotFound)
    }

    // MARK: Elastic IPs and NAT gateways

    func allocateAddress(_ call: OperationCall) async throws -> ShapeValue {
        let id = ResourceID.ec2("eipalloc")
        let region = call.context.region
        let shape = try await store.write { db -> ShapeValue in
            // Addresses from the documentation range 198.51.100.0/24, then 203.0.113.0/24: never routed.
            let used = Set(try ResourceRecord.filter(Column("type") == "elastic-ip").fetchAll(db).compactMap { ShapeValue(storageText: $0.body)["PublicIp"]?.string })
            let candidates = (1...254).map { "198.51.100.\($0)" } + (1...254).map { "203.0.113.\($0)" }
            guard let ip = candidates.first(where: { !used.contains($0) }) else {
                throw AWSError(code: "AddressLimitExceeded", message: "The maximum number of addresses has been reached.")
            }
            let address: ShapeValue = [
                "AllocationId": .string(id), "PublicIp": .string(ip), "Domain": "vpc", "PublicIpv4Pool": "amazon",
                "NetworkBorderGroup": .string(region),
            ]
            try self.insert(db, call, id: id, type: "elastic-ip", vpcId: nil, address, tagType: "elastic-ip")
            return address
        }
        return ["AllocationId": shape["AllocationId"] ?? "", "PublicIp": shape["PublicIp"] ?? "", "Domain": "vpc", "PublicIpv4Pool": "amazon",
                "NetworkBorderGroup": .string(region)]
    }

    func releaseAddress(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["AllocationId"]?.string ?? ""
        try await store.write { db in
            let address = try self.resource(db, id, type: "elastic-ip", call, notFound: Self.allocationNotFound)
            guard ShapeValue(storageText: address.body)["AssociationId"] == nil else {
                throw AWSError(code: "InvalidIPAddress.InUse", message: "Address \(ShapeValue(storageText: address.body)["PublicIp"]?.string ?? id) is in use.")
            }
            try TagRecord.filter(Column("resourceId") == id).deleteAll(db)
            try address.delete(db)
        }
        return .empty
    }

    func describeAddresses(_ call: OperationCall) async throws -> ShapeValue {
        var out = try await describe(call, type: "elastic-ip", idsMember: "AllocationIds", idField: "AllocationId", output: "Addresses",
                                     notFound: Self.allocationNotFound)
        if let ips = call.input["PublicIps"]?.list?.compactMap(\.string), !ips.isEmpty, case .structure(var m) = out {
            m["Addresses"] = .list((m["Addresses"]?.list ?? []).filter { ips.contains($0["PublicIp"]?.string ?? "") })
            out = .structure(m)
        }
        return out
    }

    func createNatGateway(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let subnetId = input["SubnetId"]?.string ?? ""
        let allocationId = input["AllocationId"]?.string
        let connectivity = input["ConnectivityType"]?.string ?? "public"
        let id = ResourceID.ec2("nat")
        let now = clock.now
        let shape = try await store.write { db -> ShapeValue in
            let subnet = try self.resource(db, subnetId, type: "subnet", call, notFound: AWSError.invalidSubnetId)
            var address: [String: ShapeValue] = ["NetworkInterfaceId": .string(ResourceID.ec2("eni")), "PrivateIp": .string(Self.firstHost(subnet)),
                                                 "IsPrimary": true, "Status": "succeeded"]
            if connectivity == "public" {
                guard let allocationId else {
                    throw AWSError(code: "MissingParameter", message: "The request must include the AllocationId parameter. Add the required parameter and retry the request.")
                }
                let eip = try self.resource(db, allocationId, type: "elastic-ip", call, notFound: Self.allocationNotFound)
                let eipShape = ShapeValue(storageText: eip.body)
                guard eipShape["AssociationId"] == nil else {
                    throw AWSError(code: "Resource.AlreadyAssociated", message: "Elastic IP address [\(allocationId)] is already associated")
                }
                address["AllocationId"] = .string(allocationId)
                address["PublicIp"] = eipShape["PublicIp"]
                address["AssociationId"] = .string(ResourceID.ec2("eipassoc"))
                try self.update(db, eip) { m in
                    m["AssociationId"] = address["AssociationId"]
                    m["NetworkInterfaceId"] = address["NetworkInterfaceId"]
                    m["PrivateIpAddress"] = address["PrivateIp"]
                }
            }
            let gateway: ShapeValue = [
                "NatGatewayId": .string(id), "SubnetId": .string(subnetId), "VpcId": .string(subnet.vpcId ?? ""), "State": "available",
                "ConnectivityType": .string(connectivity), "CreateTime": .timestamp(now), "NatGatewayAddresses": [.structure(address)],
            ]
            try self.insert(db, call, id: id, type: "nat-gateway", vpcId: subnet.vpcId, gateway, tagType: "natgateway")
            return gateway
        }
        return ["NatGateway": created(call, shape, tagType: "natgateway")]
    }

    /// The subnet's first usable address (AWS keeps the first four and the last).
    static func firstHost(_ subnet: ResourceRecord) -> String {
        guard let block = IPv4Block(ShapeValue(storageText: subnet.body)["CidrBlock"]?.string ?? "") else { return "" }
        let v = block.start + 4
        return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
    }

    func deleteNatGateway(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["NatGatewayId"]?.string ?? ""
        let now = clock.now
        try await store.write { db in
            let gateway = try self.resource(db, id, type: "nat-gateway", call, notFound: Self.natGatewayNotFound)
            let shape = ShapeValue(storageText: gateway.body)
            // Its Elastic IP is free again; the gateway stays listed as deleted.
            for a in shape["NatGatewayAddresses"]?.list ?? [] {
                if let allocation = a["AllocationId"]?.string, let eip = try ResourceRecord.fetchOne(db, key: allocation) {
                    try self.update(db, eip) { m in
                        m["AssociationId"] = nil
                        m["NetworkInterfaceId"] = nil
                        m["PrivateIpAddress"] = nil
                    }
                }
            }
            try self.update(db, gateway) { m in
                m["State"] = "deleted"
                m["DeleteTime"] = .timestamp(now)
            }
        }
        return ["NatGatewayId": .string(id)]
    }

    func describeNatGateways(_ call: OperationCall) async throws -> ShapeValue {
        // NAT gateways take their filters as `Filter`.
        try await describe(call, type: "nat-gateway", idsMember: "NatGatewayIds", idField: "NatGatewayId", output: "NatGateways",
                           filtersMember: "Filter", notFound: Self.natGatewayNotFound)
    }
}
