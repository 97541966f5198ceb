import KumoCore
import KumoProtocols

/// EC2's `Filters` on Describe calls: `Name` is a filter name (`vpc-id`, `tag:Name`,
/// `instance-state-name`...), `Values` are alternatives with `*` and `?` wildcards; every
/// filter must match. One mechanism for every Describe call.
enum Filters {
    static let aliases: [String: [String]] = [
        "instance-state-name": ["State", "Name"], "instance-state-code": ["State", "Code"],
        "availability-zone": ["AvailabilityZone"], "group-name": ["GroupName"], "group-id": ["GroupId"],
        "description": ["Description"], "is-default": ["IsDefault"], "default-for-az": ["DefaultForAz"],
        "cidr": ["CidrBlock"], "cidr-block": ["CidrBlock"], "cidrBlock": ["CidrBlock"], "state": ["State"],
        "zone-name": ["ZoneName"], "region-name": ["RegionName"], "zone-id": ["ZoneId"], "dns-name": ["PublicDnsName"],
        "private-dns-name": ["PrivateDnsName"], "private-ip-address": ["PrivateIpAddress"],
        "placement-availability-zone": ["Placement", "AvailabilityZone"],
        "association.subnet-id": ["Associations", "SubnetId"], "association.main": ["Associations", "Main"],
        "association.route-table-association-id": ["Associations", "RouteTableAssociationId"],
        "association.gateway-id": ["Associations", "GatewayId"], "route.gateway-id": ["Routes", "GatewayId"],
        "route.nat-gateway-id": ["Routes", "NatGatewayId"], "route.destination-cidr-block": ["Routes", "DestinationCidrBlock"],
        "attachment.vpc-id": ["Attachments", "VpcId"], "attachment.state": ["Attachments", "State"],
        "key-name": ["KeyName"], "fingerprint": ["KeyFingerprint"], "key-pair-id": ["KeyPairId"], "public-ip": ["PublicIp"],
        "allocation-id": ["AllocationId"], "domain": ["Domain"], "nat-gateway-id": ["NatGatewayId"],
        "resource-id": ["ResourceId"], "resource-type": ["ResourceType"], "key": ["Key"], "value": ["Value"],
        "image-id": ["ImageId"], "name": ["Name"], "owner-id": ["OwnerId"], "is-public": ["Public"],
    ]

    static func matches(_ shape: ShapeValue, _ filters: [ShapeValue]) -> Bool {
        filters.allSatisfy { f in
            let name = f["Name"]?.string ?? ""
            let wanted = (f["Values"]?.list ?? []).compactMap(\.string)
            let have = values(shape, name)
            return have.contains { v in wanted.contains { Wildcard.matches($0, v) } }
        }
    }

    static func values(_ shape: ShapeValue, _ name: String) -> [String] {
        let tags = (shape["Tags"]?.list ?? []).map { ($0["Key"]?.string ?? "", $0["Value"]?.string ?? "") }
        if name.hasPrefix("tag:") { return tags.filter { $0.0 == name.dropFirst(4) }.map(\.1) }
        if name == "tag-key" { return tags.map(\.0) }
        if name == "tag-value" { return tags.map(\.1) }
        if name == "availability-zone", shape["Placement"] != nil { return text(shape["Placement"]?["AvailabilityZone"]) }
        if name == "instance.group-id" || (name == "group-id" && shape["InstanceId"] != nil) {
            return (shape["SecurityGroups"]?.list ?? []).compactMap { $0["GroupId"]?.string }
        }
        if name == "state", let state = shape["State"], state.members != nil { return text(state["Name"]) }
        var path = aliases[name] ?? [pascal(name)]
        if path.count == 1, shape[path[0]] == nil, name.hasSuffix("-id") { path = [pascal(name)] }
        // Lists along the path (a route table's associations) are searched member by member.
        var values: [ShapeValue] = [shape]
        for p in path {
            values = values.flatMap { v -> [ShapeValue] in
                if case .list(let items) = v { return items.compactMap { $0[p] } }
                return v[p].map { [$0] } ?? []
            }
        }
        return values.flatMap { text($0) }
    }

    static func text(_ v: ShapeValue?) -> [String] {
        switch v {
        case .string(let s): [s]
        case .boolean(let b): [b ? "true" : "false"]
        case .integer(let i): [String(i)]
        case .list(let l): l.flatMap { text($0) }
        default: []
        }
    }

    /// `vpc-id` → `VpcId`.
    static func pascal(_ name: String) -> String {
        name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
