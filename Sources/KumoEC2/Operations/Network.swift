import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension EC2 {
    /// DescribeVpcs / DescribeSubnets / DescribeSecurityGroups: ids, filters, pages.
    func describe(
        _ call: OperationCall, type: String, idsMember: String, idField: String, output: String, filtersMember: String = "Filters",
        notFound: @escaping (String) -> AWSError
    ) async throws -> ShapeValue {
        var rows = try await resources(call, type: type).map(\.1)
        let ids = (call.input[idsMember]?.list ?? []).compactMap(\.string)
        if !ids.isEmpty {
            try Self.requireIds(ids, found: Set(rows.compactMap { $0[idField]?.string }), notFound: notFound)
            rows = rows.filter { ids.contains($0[idField]?.string ?? "") }
        }
        if type == "security-group", let names = call.input["GroupNames"]?.list?.compactMap(\.string), !names.isEmpty {
            rows = rows.filter { names.contains($0["GroupName"]?.string ?? "") }
        }
        rows = rows.filter { Filters.matches($0, call.input[filtersMember]?.list ?? []) }
        let page = try Self.page(rows, call.input)
        var out: [String: ShapeValue] = [output: .list(page.items)]
        if let next = page.next { out["NextToken"] = .string(next) }
        return .structure(out)
    }

    func describeVpcs(_ call: OperationCall) async throws -> ShapeValue {
        try await describe(call, type: "vpc", idsMember: "VpcIds", idField: "VpcId", output: "Vpcs") {
            AWSError(code: "InvalidVpcID.NotFound", message: "The vpc ID '\($0)' does not exist")
        }
    }

    func describeSubnets(_ call: OperationCall) async throws -> ShapeValue {
        try await describe(call, type: "subnet", idsMember: "SubnetIds", idField: "SubnetId", output: "Subnets", notFound: AWSError.invalidSubnetId)
    }

    func describeSecurityGroups(_ call: OperationCall) async throws -> ShapeValue {
        try await describe(call, type: "security-group", idsMember: "GroupIds", idField: "GroupId", output: "SecurityGroups", notFound: AWSError.invalidGroupId)
    }

    func describeAvailabilityZones(_ call: OperationCall) async throws -> ShapeValue {
        let region = call.context.region
        let zones: [ShapeValue] = Self.zoneSuffixes.enumerated().map { i, s in
            [
                "ZoneName": .string(region + s), "ZoneId": .string(Self.zoneId(region, i)), "RegionName": .string(region), "State": "available",
                "OptInStatus": "opt-in-not-required", "ZoneType": "availability-zone", "GroupName": .string(region),
                "NetworkBorderGroup": .string(region), "Messages": [],
            ]
        }
        return ["AvailabilityZones": .list(zones.filter { Filters.matches($0, call.input["Filters"]?.list ?? []) })]
    }

    func describeRegions(_ call: OperationCall) async throws -> ShapeValue {
        let names = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1"]
        return ["Regions": .list(names.map { ["RegionName": .string($0), "Endpoint": .string("ec2.\($0).amazonaws.com"), "OptInStatus": "opt-in-not-required"] })]
    }

    func createSecurityGroup(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let name = call.input["GroupName"]?.string ?? ""
        let description = call.input["Description"]?.string ?? ""
        let groupId = ResourceID.ec2("sg")
        let tags = Self.specifiedTags(call.input, resourceType: "security-group")
        try await store.write { db in
            try self.ensureDefaults(db, account: account, region: region)
            let vpcs = try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "vpc").fetchAll(db)
            let vpcId = call.input["VpcId"]?.string ?? vpcs.first { ShapeValue(storageText: $0.body)["IsDefault"]?.bool == true }?.id ?? ""
            guard vpcs.contains(where: { $0.id == vpcId }) else {
                throw AWSError(code: "InvalidVpcID.NotFound", message: "The vpc ID '\(vpcId)' does not exist")
            }
            let sameName = try ResourceRecord.filter(Column("type") == "security-group" && Column("vpcId") == vpcId).fetchAll(db)
                .contains { ShapeValue(storageText: $0.body)["GroupName"]?.string == name }
            if sameName {
                throw AWSError(code: "InvalidGroup.Duplicate", message: "The security group '\(name)' already exists for VPC '\(vpcId)'")
            }
            let group: ShapeValue = [
                "GroupId": .string(groupId), "GroupName": .string(name), "Description": .string(description), "VpcId": .string(vpcId),
                "OwnerId": .string(account), "SecurityGroupArn": .string("arn:aws:ec2:\(region):\(account):security-group/\(groupId)"),
                "IpPermissions": [], "IpPermissionsEgress": [["IpProtocol": "-1", "IpRanges": [["CidrIp": "0.0.0.0/0"]]]],
            ]
            try ResourceRecord(id: groupId, accountId: account, region: region, type: "security-group", vpcId: vpcId, body: group.storageText)
                .insert(db)
            for (k, v) in tags { try TagRecord(resourceId: groupId, key: k, value: v).insert(db, onConflict: .replace) }
        }
        return ["GroupId": .string(groupId), "SecurityGroupArn": .string("arn:aws:ec2:\(region):\(account):security-group/\(groupId)")]
    }

    func group(_ db: Database, _ call: OperationCall) throws -> ResourceRecord {
        let id = call.input["GroupId"]?.string
        let name = call.input["GroupName"]?.string
        let rows = try ResourceRecord.filter(
            Column("accountId") == call.context.accountId && Column("region") == call.context.region && Column("type") == "security-group"
        ).fetchAll(db)
        guard let row = rows.first(where: { $0.id == id || (id == nil && ShapeValue(storageText: $0.body)["GroupName"]?.string == name) }) else {
            throw id.map(AWSError.invalidGroupId) ?? AWSError(code: "InvalidGroup.NotFound", message: "The security group '\(name ?? "")' does not exist in default VPC")
        }
        return row
    }

    func deleteSecurityGroup(_ call: OperationCall) async throws -> ShapeValue {
        try await store.write { db in
            let row = try self.group(db, call)
            if ShapeValue(storageText: row.body)["GroupName"]?.string == "default" {
                throw AWSError(code: "CannotDelete", message: "the specified group: \"\(row.id)\" name: \"default\" cannot be deleted by a user")
            }
            let users = try InstanceRecord.filter(Column("securityGroups").like("%\"\(row.id)\"%") && Column("state") != "terminated").fetchCount(db)
            if users > 0 {
                throw AWSError(code: "DependencyViolation", message: "resource \(row.id) has a dependent object")
            }
            try row.delete(db)
            try TagRecord.filter(Column("resourceId") == row.id).deleteAll(db)
        }
        return ["Return": true]
    }

    /// Authorize/Revoke ingress and egress: kept and described; load balancers enforce the ingress rules of their groups.
    func changeRules(_ call: OperationCall, member: String, add: Bool) async throws -> ShapeValue {
        let permissions = call.input["IpPermissions"]?.list ?? []
        var simple: [ShapeValue] = []
        if let proto = call.input["IpProtocol"]?.string {
            var p: [String: ShapeValue] = ["IpProtocol": .string(proto)]
            if let from = call.input["FromPort"] { p["FromPort"] = from }
            if let to = call.input["ToPort"] { p["ToPort"] = to }
            if let cidr = call.input["CidrIp"]?.string { p["IpRanges"] = [["CidrIp": .string(cidr)]] }
            simple.append(.structure(p))
        }
        let changes = permissions + simple
        try await store.write { db in
            var row = try self.group(db, call)
            var shape = ShapeValue(storageText: row.body).members ?? [:]
            var rules = shape[member]?.list ?? []
            for c in changes {
                if add {
                    if rules.contains(c) {
                        throw AWSError(
                            code: "InvalidPermission.Duplicate",
                            message: "the specified rule \"peer: \(c["IpRanges"]?.list?.first?["CidrIp"]?.string ?? "sg"), \(c["IpProtocol"]?.string ?? ""), from port: \(c["FromPort"]?.int ?? 0), to port: \(c["ToPort"]?.int ?? 0), ALLOW\" already exists")
                    }
                    rules.append(c)
                } else {
                    guard let i = rules.firstIndex(of: c) else {
                        throw AWSError(code: "InvalidPermission.NotFound", message: "The specified rule does not exist in this security group.")
                    }
                    rules.remove(at: i)
                }
            }
            shape[member] = .list(rules)
            row.body = ShapeValue.structure(shape).storageText
            try row.update(db)
        }
        return ["Return": true]
    }

    func authorizeSecurityGroupIngress(_ call: OperationCall) async throws -> ShapeValue { try await changeRules(call, member: "IpPermissions", add: true) }
    func authorizeSecurityGroupEgress(_ call: OperationCall) async throws -> ShapeValue { try await changeRules(call, member: "IpPermissionsEgress", add: true) }
    func revokeSecurityGroupIngress(_ call: OperationCall) async throws -> ShapeValue { try await changeRules(call, member: "IpPermissions", add: false) }
    func revokeSecurityGroupEgress(_ call: OperationCall) async throws -> ShapeValue { try await changeRules(call, member: "IpPermissionsEgress", add: false) }

    func createTags(_ call: OperationCall) async throws -> ShapeValue {
        let ids = (call.input["Resources"]?.list ?? []).compactMap(\.string)
        let tags = (call.input["Tags"]?.list ?? []).map { ($0["Key"]?.string ?? "", $0["Value"]?.string ?? "") }
        try await store.write { db in
            for id in ids {
                let known = try ResourceRecord.fetchOne(db, key: id) != nil || InstanceRecord.fetchOne(db, key: id) != nil
                guard known else {
                    let kind = id.split(separator: "-").first.map(String.init) ?? "resource"
                    throw AWSError(code: "Invalid\(kind == "i" ? "Instance" : kind.capitalized)ID.NotFound", message: "The ID '\(id)' does not exist")
                }
                for (k, v) in tags { try TagRecord(resourceId: id, key: k, value: v).insert(db, onConflict: .replace) }
            }
        }
        return ["Return": true]
    }

    /// DescribeTags: every tag of the caller's resources, with `resource-id`, `resource-type`, `key`, `value` filters.
    func describeTags(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let (rows, types) = try await store.read { db -> ([TagRecord], [String: String]) in
            var types: [String: String] = [:]
            for r in try ResourceRecord.filter(Column("accountId") == account && Column("region") == region).fetchAll(db) { types[r.id] = r.type }
            for id in try String.fetchAll(db, sql: "SELECT id FROM ec2_instances WHERE accountId = ? AND region = ?", arguments: [account, region]) {
                types[id] = "instance"
            }
            return (try TagRecord.order(Column("resourceId"), Column("key")).fetchAll(db).filter { types[$0.resourceId] != nil }, types)
        }
        let names = ["elastic-ip": "elastic-ip", "nat-gateway": "natgateway"]
        let all: [ShapeValue] = rows.map { t in
            let type = types[t.resourceId] ?? ""
            return ["ResourceId": .string(t.resourceId), "ResourceType": .string(names[type] ?? type), "Key": .string(t.key), "Value": .string(t.value)]
        }
        let filtered = all.filter { Filters.matches($0, call.input["Filters"]?.list ?? []) }
        let page = try Self.page(filtered, call.input)
        var out: [String: ShapeValue] = ["Tags": .list(page.items)]
        if let next = page.next { out["NextToken"] = .string(next) }
        return .structure(out)
    }

    func deleteTags(_ call: OperationCall) async throws -> ShapeValue {
        let ids = (call.input["Resources"]?.list ?? []).compactMap(\.string)
        let tags = call.input["Tags"]?.list ?? []
        try await store.write { db in
            for id in ids {
                if tags.isEmpty { try TagRecord.filter(Column("resourceId") == id).deleteAll(db) }
                for t in tags {
                    var q = TagRecord.filter(Column("resourceId") == id && Column("key") == (t["Key"]?.string ?? ""))
                    if let v = t["Value"]?.string { q = q.filter(Column("value") == v) }
                    try q.deleteAll(db)
                }
            }
        }
        return ["Return": true]
    }
}
