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
    static let defaultTargetGroupAttributes: [String: String] = [
        "deregistration_delay.timeout_seconds": "300", "stickiness.enabled": "false", "stickiness.type": "lb_cookie",
        "stickiness.lb_cookie.duration_seconds": "86400", "load_balancing.algorithm.type": "round_robin",
        "slow_start.duration_seconds": "0", "stickiness.app_cookie.cookie_name": "", "stickiness.app_cookie.duration_seconds": "86400",
    ]

    /// Stickiness settings an application load balancer accepts.
    static func checkStickiness(_ values: [String: String]) throws {
        let type = values["stickiness.type"] ?? "lb_cookie"
        guard type == "lb_cookie" || type == "app_cookie" else {
            throw AWSError.elbValidation("Stickiness type '\(type)' is not supported for target groups with the HTTP protocol")
        }
        let name = values["stickiness.app_cookie.cookie_name"] ?? ""
        if type == "app_cookie", values["stickiness.enabled"] == "true", name.isEmpty {
            throw AWSError.elbValidation("The 'stickiness.app_cookie.cookie_name' attribute must be specified when stickiness type is 'app_cookie'")
        }
        if ["AWSALB", "AWSALBAPP", "AWSALBTG"].contains(where: { name.hasPrefix($0) }) {
            throw AWSError.elbValidation("App cookie name cannot start with reserved prefixes AWSALB, AWSALBAPP or AWSALBTG")
        }
    }

    /// The target group as described: with the load balancers whose listeners or rules forward to it.
    func targetGroupShape(_ r: ResourceRecord, users: [String: Set<String>]) -> ShapeValue {
        var m = ShapeValue(storageText: r.body).members ?? [:]
        m["LoadBalancerArns"] = .list((users[r.arn] ?? []).sorted().map { .string($0) })
        return .structure(m)
    }

    /// Target group ARN → the load balancers that send it traffic.
    func targetGroupUsers(_ db: Database, account: String, region: String) throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        let listeners = try records(db, kind: "listener", account: account, region: region)
        let rules = try records(db, kind: "rule", account: account, region: region)
        let lbOfListener = Dictionary(uniqueKeysWithValues: listeners.map { ($0.arn, $0.parent ?? "") })
        for rule in rules {
            guard let lb = lbOfListener[rule.parent ?? ""] else { continue }
            for tg in Self.forwardedGroups(ShapeValue(storageText: rule.body)["Actions"]?.list ?? []) { out[tg, default: []].insert(lb) }
        }
        return out
    }

    static func forwardedGroups(_ actions: [ShapeValue]) -> [String] {
        actions.flatMap { a -> [String] in
            guard a["Type"]?.string == "forward" else { return [] }
            var arns = (a["ForwardConfig"]?["TargetGroups"]?.list ?? []).compactMap { $0["TargetGroupArn"]?.string }
            if let one = a["TargetGroupArn"]?.string { arns.append(one) }
            return arns
        }
    }

    func createTargetGroup(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["Name"]?.string ?? ""
        try Self.checkName(name, what: "Target group")
        let account = call.context.accountId, region = call.context.region
        let targetType = input["TargetType"]?.string ?? "instance"
        let proto = input["Protocol"]?.string
        if targetType != "lambda" {
            guard proto != nil, input["Port"] != nil, input["VpcId"] != nil else {
                throw AWSError.elbValidation("A protocol, port and VPC ID must be specified for target groups with a target type of '\(targetType)'")
            }
        }
        let shape: ShapeValue = [
            "TargetGroupArn": .string(arn(call, "targetgroup/\(name)/\(Self.hex16())")), "TargetGroupName": .string(name),
            "Protocol": .string(proto ?? "HTTP"), "Port": .integer(Int64(input["Port"]?.int ?? 80)), "VpcId": .string(input["VpcId"]?.string ?? ""),
            "HealthCheckProtocol": .string(input["HealthCheckProtocol"]?.string ?? proto ?? "HTTP"),
            "HealthCheckPort": .string(input["HealthCheckPort"]?.string ?? "traffic-port"),
            "HealthCheckEnabled": .boolean(input["HealthCheckEnabled"]?.bool ?? true),
            "HealthCheckIntervalSeconds": .integer(Int64(input["HealthCheckIntervalSeconds"]?.int ?? 30)),
            "HealthCheckTimeoutSeconds": .integer(Int64(input["HealthCheckTimeoutSeconds"]?.int ?? 5)),
            "HealthyThresholdCount": .integer(Int64(input["HealthyThresholdCount"]?.int ?? 5)),
            "UnhealthyThresholdCount": .integer(Int64(input["UnhealthyThresholdCount"]?.int ?? 2)),
            "HealthCheckPath": .string(input["HealthCheckPath"]?.string ?? "/"),
            "Matcher": ["HttpCode": .string(input["Matcher"]?["HttpCode"]?.string ?? "200")],
            "TargetType": .string(targetType), "ProtocolVersion": .string(input["ProtocolVersion"]?.string ?? "HTTP1"),
            "IpAddressType": "ipv4",
        ]
        guard (shape["HealthCheckTimeoutSeconds"]?.int ?? 5) < (shape["HealthCheckIntervalSeconds"]?.int ?? 30) else {
            throw AWSError.elbValidation("Health check interval must be greater than the timeout.")
        }
        let record = ResourceRecord(
            arn: shape["TargetGroupArn"]?.string ?? "", kind: "targetgroup", accountId: account, region: region, name: name, parent: nil,
            body: shape.storageText, attributes: Self.attributesText(Self.defaultTargetGroupAttributes), created: clock.now.timeIntervalSince1970)
        let tags = input["Tags"]?.list ?? []
        let result = try await write { db -> ResourceRecord in
            if let same = try self.records(db, kind: "targetgroup", account: account, region: region).first(where: { $0.name == name }) {
                let old = ShapeValue(storageText: same.body)
                guard old["Port"] == shape["Port"], old["Protocol"] == shape["Protocol"], old["VpcId"] == shape["VpcId"] else {
                    throw AWSError(code: "DuplicateTargetGroupName", message: "A target group with the same name '\(name)' exists, but with different settings")
                }
                return same
            }
            try record.insert(db)
            for t in tags {
                try TagRecord(resourceArn: record.arn, key: t["Key"]?.string ?? "", value: t["Value"]?.string ?? "").insert(db, onConflict: .replace)
            }
            return record
        }
        return ["TargetGroups": [targetGroupShape(result, users: [:])]]
    }

    func describeTargetGroups(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let (all, users) = try await store.read { db in
            (try self.records(db, kind: "targetgroup", account: account, region: region), try self.targetGroupUsers(db, account: account, region: region))
        }
        var rows = all
        let arns = (call.input["TargetGroupArns"]?.list ?? []).compactMap(\.string)
        let names = (call.input["Names"]?.list ?? []).compactMap(\.string)
        if !arns.isEmpty {
            guard arns.allSatisfy({ a in rows.contains { $0.arn == a } }) else { throw AWSError.targetGroupNotFound() }
            rows = rows.filter { arns.contains($0.arn) }
        }
        if !names.isEmpty {
            guard names.allSatisfy({ n in rows.contains { $0.name == n } }) else { throw AWSError.targetGroupNotFound() }
            rows = rows.filter { names.contains($0.name) }
        }
        if let lb = call.input["LoadBalancerArn"]?.string { rows = rows.filter { users[$0.arn]?.contains(lb) == true } }
        let page = try Self.page(rows, call.input)
        return Self.listOutput("TargetGroups", page.items.map { targetGroupShape($0, users: users) }, next: page.next)
    }

    func modifyTargetGroup(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["TargetGroupArn"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let input = call.input
        let (updated, users) = try await write { db -> (ResourceRecord, [String: Set<String>]) in
            var r = try self.record(db, arn, kind: "targetgroup", account: account, notFound: .targetGroupNotFound())
            var m = ShapeValue(storageText: r.body).members ?? [:]
            for key in ["HealthCheckProtocol", "HealthCheckPort", "HealthCheckEnabled", "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                        "HealthyThresholdCount", "UnhealthyThresholdCount", "HealthCheckPath", "Matcher"] {
                if let v = input[key] { m[key] = v }
            }
            r.body = ShapeValue.structure(m).storageText
            try r.update(db)
            return (r, try self.targetGroupUsers(db, account: account, region: region))
        }
        return ["TargetGroups": [targetGroupShape(updated, users: users)]]
    }

    func deleteTargetGroup(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["TargetGroupArn"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        try await write { db in
            guard let r = try ResourceRecord.fetchOne(db, key: arn), r.kind == "targetgroup", r.accountId == account else { return }
            if let lb = try self.targetGroupUsers(db, account: account, region: region)[arn]?.first {
                throw AWSError(code: "ResourceInUse", message: "Target group '\(arn)' is currently in use by a listener or a rule of '\(lb)'")
            }
            try r.delete(db)
            try TargetRecord.filter(Column("targetGroupArn") == arn).deleteAll(db)
            try TagRecord.filter(Column("resourceArn") == arn).deleteAll(db)
        }
        return .empty
    }

    func describeTargetGroupAttributes(_ call: OperationCall) async throws -> ShapeValue {
        try await describeAttributes(call, kind: "targetgroup", member: "TargetGroupArn", notFound: .targetGroupNotFound())
    }

    func modifyTargetGroupAttributes(_ call: OperationCall) async throws -> ShapeValue {
        try await modifyAttributes(call, kind: "targetgroup", member: "TargetGroupArn", notFound: .targetGroupNotFound())
    }

    // MARK: targets

    func registerTargets(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["TargetGroupArn"]?.string ?? ""
        let account = call.context.accountId
        let group = try await store.read { db in try self.record(db, arn, kind: "targetgroup", account: account, notFound: .targetGroupNotFound()) }
        let shape = ShapeValue(storageText: group.body)
        let defaultPort = shape["Port"]?.int ?? 80
        var records: [TargetRecord] = []
        for t in call.input["Targets"]?.list ?? [] {
            let id = t["Id"]?.string ?? ""
            if shape["TargetType"]?.string == "instance" {
                guard let instance = await directory.instance(id: id), instance.state == "running" || instance.state == "pending" else {
                    throw AWSError(code: "InvalidTarget", message: "The following targets are not in a running state and cannot be registered: '\(id)'")
                }
            } else if shape["TargetType"]?.string == "ip", id.split(separator: ".").count != 4 {
                throw AWSError(code: "InvalidTarget", message: "The IP address '\(id)' is not a valid IPv4 address")
            }
            records.append(TargetRecord(targetGroupArn: arn, targetId: id, port: t["Port"]?.int ?? defaultPort, availabilityZone: t["AvailabilityZone"]?.string))
        }
        let toInsert = records
        try await write { db in
            for r in toInsert { try r.insert(db, onConflict: .replace) }
        }
        for r in records { router.health.registered(group: arn, id: r.targetId, port: r.port) }
        return .empty
    }

    func deregisterTargets(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["TargetGroupArn"]?.string ?? ""
        let account = call.context.accountId
        let targets = (call.input["Targets"]?.list ?? [])
        let (group, removed) = try await write { db -> (ResourceRecord, [TargetRecord]) in
            let group = try self.record(db, arn, kind: "targetgroup", account: account, notFound: .targetGroupNotFound())
            let defaultPort = ShapeValue(storageText: group.body)["Port"]?.int ?? 80
            var removed: [TargetRecord] = []
            for t in targets {
                let id = t["Id"]?.string ?? ""
                let port = t["Port"]?.int
                let matching = try TargetRecord.filter(Column("targetGroupArn") == arn && Column("targetId") == id).fetchAll(db)
                    .filter { port == nil || $0.port == port || ($0.port == defaultPort && port == nil) }
                guard !matching.isEmpty else {
                    throw AWSError(code: "InvalidTarget", message: "The specified targets are not registered with the target group: '\(id)'")
                }
                for m in matching { try m.delete(db) }
                removed += matching
            }
            return (group, removed)
        }
        // In-flight requests finish; the target drains for the deregistration delay.
        let delay = Double(Self.attributes(group.attributes)["deregistration_delay.timeout_seconds"] ?? "300") ?? 300
        for r in removed { router.health.draining(group: arn, id: r.targetId, port: r.port, for: clock.duration(awsSeconds: delay)) }
        return .empty
    }

    func describeTargetHealth(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["TargetGroupArn"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let (group, targets, users) = try await store.read { db in
            (try self.record(db, arn, kind: "targetgroup", account: account, notFound: .targetGroupNotFound()),
             try TargetRecord.filter(Column("targetGroupArn") == arn).order(Column("targetId"), Column("port")).fetchAll(db),
             try self.targetGroupUsers(db, account: account, region: region))
        }
        let inUse = !(users[arn] ?? []).isEmpty
        let healthPort = ShapeValue(storageText: group.body)["HealthCheckPort"]?.string ?? "traffic-port"
        var out: [ShapeValue] = []
        var listed = targets.map { ($0.targetId, $0.port, $0.availabilityZone) }
        for (id, port) in router.health.drainingTargets(group: arn) where !listed.contains(where: { $0.0 == id && $0.1 == port }) {
            listed.append((id, port, nil))
        }
        let asked = (call.input["Targets"]?.list ?? []).compactMap { $0["Id"]?.string }
        for (id, port, zone) in listed where asked.isEmpty || asked.contains(id) {
            var target: [String: ShapeValue] = ["Id": .string(id), "Port": .integer(Int64(port))]
            if let zone { target["AvailabilityZone"] = .string(zone) }
            let health = router.health.describe(group: arn, id: id, port: port, inUse: inUse)
            var th: [String: ShapeValue] = ["State": .string(health.state)]
            if let reason = health.reason { th["Reason"] = .string(reason) }
            if let description = health.description { th["Description"] = .string(description) }
            out.append([
                "Target": .structure(target), "HealthCheckPort": .string(healthPort == "traffic-port" ? String(port) : healthPort),
                "TargetHealth": .structure(th),
            ])
        }
        return ["TargetHealthDescriptions": .list(out)]
    }
}
