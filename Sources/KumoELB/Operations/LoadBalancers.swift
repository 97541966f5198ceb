import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ELB {
    static let provisioningSeconds = 3.0
    static let defaultLoadBalancerAttributes: [String: String] = [
        "idle_timeout.timeout_seconds": "60", "deletion_protection.enabled": "false", "routing.http2.enabled": "true",
        "access_logs.s3.enabled": "false", "routing.http.drop_invalid_header_fields.enabled": "false",
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false", "routing.http.xff_header_processing.mode": "append",
        "load_balancing.cross_zone.enabled": "true",
    ]

    /// The stored shape with its State as the clock says (provisioning, then active).
    func loadBalancerShape(_ r: ResourceRecord) -> ShapeValue {
        var m = ShapeValue(storageText: r.body).members ?? [:]
        let active = clock.now.timeIntervalSince1970 >= r.created + Self.provisioningSeconds * clock.timeScale
        m["State"] = ["Code": .string(active ? "active" : "provisioning")]
        return .structure(m)
    }

    func createLoadBalancer(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["Name"]?.string ?? ""
        try Self.checkName(name, what: "Load balancer")
        if name.hasPrefix("internal-") { throw AWSError.elbValidation("Load balancer name '\(name)' cannot begin with 'internal-'") }
        let type = input["Type"]?.string ?? "application"
        guard type == "application" else {
            throw AWSError(code: "UnsupportedProtocol", message: "Kumo serves application load balancers; '\(type)' load balancers are not supported yet")
        }
        let account = call.context.accountId, region = call.context.region
        var subnetIds = (input["Subnets"]?.list ?? []).compactMap(\.string)
        subnetIds += (input["SubnetMappings"]?.list ?? []).compactMap { $0["SubnetId"]?.string }
        var zones: [ShapeValue] = []
        var seenZones = Set<String>()
        var vpcId = ""
        for id in subnetIds {
            guard let subnet = await directory.subnet(id: id, account: account, region: region) else {
                throw AWSError(code: "SubnetNotFound", message: "The specified subnet does not exist.")
            }
            guard seenZones.insert(subnet.availabilityZone).inserted else {
                throw AWSError(code: "InvalidConfigurationRequest", message: "A load balancer cannot be attached to multiple subnets in the same Availability Zone")
            }
            vpcId = subnet.vpcId
            zones.append(["ZoneName": .string(subnet.availabilityZone), "SubnetId": .string(id), "LoadBalancerAddresses": []])
        }
        guard seenZones.count >= 2 else {
            throw AWSError.elbValidation("At least two subnets in two different Availability Zones must be specified")
        }
        let scheme = input["Scheme"]?.string ?? "internet-facing"
        let arn = arn(call, "loadbalancer/app/\(name)/\(Self.hex16())")
        let digits = String(UInt64.random(in: 1_000_000_000...9_999_999_999))
        let dns = (scheme == "internal" ? "internal-" : "") + "\(name.lowercased())-\(digits).\(region).elb.\(hostSuffix)"
        let now = clock.now
        let shape: ShapeValue = [
            "LoadBalancerArn": .string(arn), "DNSName": .string(dns), "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
            "CreatedTime": .timestamp(now), "LoadBalancerName": .string(name), "Scheme": .string(scheme), "VpcId": .string(vpcId),
            "Type": "application", "AvailabilityZones": .list(zones), "IpAddressType": .string(input["IpAddressType"]?.string ?? "ipv4"),
            "SecurityGroups": .list(input["SecurityGroups"]?.list ?? []),
        ]
        let tags = input["Tags"]?.list ?? []
        let record = ResourceRecord(
            arn: arn, kind: "loadbalancer", accountId: account, region: region, name: name, parent: nil, body: shape.storageText,
            attributes: Self.attributesText(Self.defaultLoadBalancerAttributes), created: now.timeIntervalSince1970)
        let zoneCount = zones.count
        let result = try await write { db -> ResourceRecord in
            if let same = try self.records(db, kind: "loadbalancer", account: account, region: region).first(where: { $0.name == name }) {
                // The same request again answers the existing load balancer, as AWS does.
                let old = ShapeValue(storageText: same.body)
                guard old["Scheme"]?.string == scheme, (old["AvailabilityZones"]?.list ?? []).count == zoneCount else {
                    throw AWSError(code: "DuplicateLoadBalancerName", message: "A load balancer with the same name '\(name)' exists, but with different settings")
                }
                return same
            }
            try record.insert(db)
            for t in tags { try TagRecord(resourceArn: arn, key: t["Key"]?.string ?? "", value: t["Value"]?.string ?? "").insert(db, onConflict: .replace) }
            return record
        }
        return ["LoadBalancers": [loadBalancerShape(result)]]
    }

    func describeLoadBalancers(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        var rows = try await store.read { db in try self.records(db, kind: "loadbalancer", account: account, region: region) }
        let arns = (call.input["LoadBalancerArns"]?.list ?? []).compactMap(\.string)
        let names = (call.input["Names"]?.list ?? []).compactMap(\.string)
        if !arns.isEmpty {
            guard arns.allSatisfy({ a in rows.contains { $0.arn == a } }) else { throw AWSError.loadBalancerNotFound() }
            rows = rows.filter { arns.contains($0.arn) }
        }
        if !names.isEmpty {
            guard names.allSatisfy({ n in rows.contains { $0.name == n } }) else { throw AWSError.loadBalancerNotFound() }
            rows = rows.filter { names.contains($0.name) }
        }
        let page = try Self.page(rows, call.input)
        return Self.listOutput("LoadBalancers", page.items.map(loadBalancerShape), next: page.next)
    }

    func deleteLoadBalancer(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["LoadBalancerArn"]?.string ?? ""
        let account = call.context.accountId
        try await write { db in
            guard let lb = try ResourceRecord.fetchOne(db, key: arn), lb.kind == "loadbalancer", lb.accountId == account else { return }
            if Self.attributes(lb.attributes)["deletion_protection.enabled"] == "true" {
                throw AWSError(code: "OperationNotPermitted", message: "Load balancer '\(arn)' cannot be deleted because deletion protection is enabled")
            }
            let listeners = try ResourceRecord.filter(Column("parent") == arn).fetchAll(db)
            for l in listeners { try ResourceRecord.filter(Column("parent") == l.arn).deleteAll(db) }
            try ResourceRecord.filter(Column("parent") == arn).deleteAll(db)
            try lb.delete(db)
            try TagRecord.filter(Column("resourceArn") == arn).deleteAll(db)
        }
        return .empty
    }

    // MARK: attributes

    func describeAttributes(_ call: OperationCall, kind: String, member: String, notFound: AWSError) async throws -> ShapeValue {
        let arn = call.input[member]?.string ?? ""
        let account = call.context.accountId
        let r = try await store.read { db in try self.record(db, arn, kind: kind, account: account, notFound: notFound) }
        return ["Attributes": .list(Self.attributes(r.attributes).sorted { $0.key < $1.key }.map { ["Key": .string($0.key), "Value": .string($0.value)] })]
    }

    func modifyAttributes(_ call: OperationCall, kind: String, member: String, notFound: AWSError) async throws -> ShapeValue {
        let arn = call.input[member]?.string ?? ""
        let account = call.context.accountId
        let changes = (call.input["Attributes"]?.list ?? []).map { ($0["Key"]?.string ?? "", $0["Value"]?.string ?? "") }
        // Access logs need a bucket Kumo can write to.
        if kind == "loadbalancer", changes.contains(where: { $0.0 == "access_logs.s3.enabled" && $0.1 == "true" }) {
            let bucket = changes.last { $0.0 == "access_logs.s3.bucket" }?.1 ?? ""
            guard !bucket.isEmpty, let logSink, await logSink.bucketOwner(bucket) != nil else {
                throw AWSError(
                    code: "InvalidConfigurationRequest",
                    message: "Access Denied for bucket: \(bucket). Please check S3bucket permission", status: 409)
            }
        }
        let updated = try await write { db -> [String: String] in
            var r = try self.record(db, arn, kind: kind, account: account, notFound: notFound)
            var values = Self.attributes(r.attributes)
            for (k, v) in changes {
                guard values[k] != nil || kind == "targetgroup" || k.hasPrefix("access_logs.") else {
                    throw AWSError.elbValidation("Load balancer attribute key '\(k)' is not recognized")
                }
                if kind == "loadbalancer", k == "routing.http.xff_header_processing.mode", !["append", "preserve", "remove"].contains(v) {
                    throw AWSError.elbValidation("Load balancer attribute value '\(v)' is not valid for key '\(k)': it must be append, preserve or remove")
                }
                values[k] = v
            }
            if kind == "targetgroup" { try Self.checkStickiness(values) }
            r.attributes = Self.attributesText(values)
            try r.update(db)
            return values
        }
        return ["Attributes": .list(updated.sorted { $0.key < $1.key }.map { ["Key": .string($0.key), "Value": .string($0.value)] })]
    }

    func describeLoadBalancerAttributes(_ call: OperationCall) async throws -> ShapeValue {
        try await describeAttributes(call, kind: "loadbalancer", member: "LoadBalancerArn", notFound: .loadBalancerNotFound())
    }

    func modifyLoadBalancerAttributes(_ call: OperationCall) async throws -> ShapeValue {
        try await modifyAttributes(call, kind: "loadbalancer", member: "LoadBalancerArn", notFound: .loadBalancerNotFound())
    }

    // MARK: tags

    func addTags(_ call: OperationCall) async throws -> ShapeValue {
        let arns = (call.input["ResourceArns"]?.list ?? []).compactMap(\.string)
        let tags = call.input["Tags"]?.list ?? []
        try await store.write { db in
            for arn in arns {
                guard try ResourceRecord.fetchOne(db, key: arn) != nil else { throw AWSError.loadBalancerNotFound() }
                for t in tags { try TagRecord(resourceArn: arn, key: t["Key"]?.string ?? "", value: t["Value"]?.string ?? "").insert(db, onConflict: .replace) }
            }
        }
        return .empty
    }

    func removeTags(_ call: OperationCall) async throws -> ShapeValue {
        let arns = (call.input["ResourceArns"]?.list ?? []).compactMap(\.string)
        let keys = (call.input["TagKeys"]?.list ?? []).compactMap(\.string)
        try await store.write { db in
            for arn in arns { try TagRecord.filter(Column("resourceArn") == arn && keys.contains(Column("key"))).deleteAll(db) }
        }
        return .empty
    }

    func describeTags(_ call: OperationCall) async throws -> ShapeValue {
        let arns = (call.input["ResourceArns"]?.list ?? []).compactMap(\.string)
        let out = try await store.read { db -> [ShapeValue] in
            try arns.map { arn in
                guard try ResourceRecord.fetchOne(db, key: arn) != nil else { throw AWSError.loadBalancerNotFound() }
                let tags = try TagRecord.filter(Column("resourceArn") == arn).order(Column("key")).fetchAll(db)
                return ["ResourceArn": .string(arn), "Tags": .list(tags.map { ["Key": .string($0.key), "Value": .string($0.value)] })]
            }
        }
        return ["TagDescriptions": .list(out)]
    }
}
