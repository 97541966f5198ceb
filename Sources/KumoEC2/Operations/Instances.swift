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
    static let stateCodes = ["pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80]

    static func stateShape(_ name: String) -> ShapeValue {
        ["Code": .integer(Int64(stateCodes[name] ?? 0)), "Name": .string(name)]
    }

    func instanceShape(_ i: InstanceRecord, tags: [String: String], groups: [String: String]) -> ShapeValue {
        let groupIds = (try? JSONValue.parse(i.securityGroups))?.array?.compactMap(\.string) ?? []
        let dns = "ip-" + i.privateIp.replacing(".", with: "-") + (i.region == "us-east-1" ? ".ec2.internal" : ".\(i.region).compute.internal")
        var out: [String: ShapeValue] = [
            "InstanceId": .string(i.id), "ImageId": .string(i.imageId), "State": Self.stateShape(i.state), "InstanceType": .string(i.instanceType),
            "PrivateDnsName": .string(i.state == "terminated" ? "" : dns), "PrivateIpAddress": .string(i.privateIp), "PublicDnsName": "",
            "StateTransitionReason": .string(i.stateReason ?? ""), "AmiLaunchIndex": .integer(Int64(i.launchIndex)), "LaunchTime": .timestamp(i.launchTime),
            "Placement": ["AvailabilityZone": .string(i.availabilityZone), "Tenancy": "default", "GroupName": ""],
            "Monitoring": ["State": "disabled"], "SubnetId": .string(i.subnetId), "VpcId": .string(i.vpcId), "Architecture": "x86_64",
            "RootDeviceType": "ebs", "RootDeviceName": "/dev/xvda", "Hypervisor": "xen", "VirtualizationType": "hvm", "EbsOptimized": false,
            "EnaSupport": true, "SourceDestCheck": true, "PlatformDetails": "Linux/UNIX", "ClientToken": "",
            "SecurityGroups": .list(groupIds.map { ["GroupId": .string($0), "GroupName": .string(groups[$0] ?? "")] }),
            "Tags": Self.tagList(tags),
        ]
        if let key = i.keyName { out["KeyName"] = .string(key) }
        if let profile = Self.attributes(i)["iam.profile"] {
            out["IamInstanceProfile"] = ["Arn": .string(profile), "Id": .string(Self.profileId(profile))]
        }
        if let reason = i.stateReason, !reason.isEmpty { out["StateReason"] = ["Code": .string(reason), "Message": .string(reason)] }
        return .structure(out)
    }

    func groupNames(_ db: Database, account: String, region: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for r in try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "security-group").fetchAll(db) {
            out[r.id] = ShapeValue(storageText: r.body)["GroupName"]?.string ?? ""
        }
        return out
    }

    func runInstances(_ call: OperationCall) async throws -> ShapeValue {
        let input = try await withLaunchTemplate(call)
        let account = call.context.accountId, region = call.context.region
        let imageId = input["ImageId"]?.string ?? ""
        guard imageId.hasPrefix("ami-") else {
            throw AWSError(code: "InvalidAMIID.Malformed", message: "Invalid id: \"\(imageId)\" (expecting \"ami-...\")")
        }
        let minCount = input["MinCount"]?.int ?? 1, maxCount = input["MaxCount"]?.int ?? 1
        guard minCount >= 1, maxCount >= minCount else {
            throw AWSError(code: "InvalidParameterValue", message: "Value (\(maxCount)) for parameter maxCount is invalid. Must be at least minCount (\(minCount))")
        }
        let userDataText = input["UserData"]?.string ?? ""
        let userData = Data(base64Encoded: userDataText).flatMap { String(data: $0, encoding: .utf8) } ?? userDataText
        let tags = Self.specifiedTags(input, resourceType: "instance")
        let now = clock.now
        let reservationId = ResourceID.ec2("r")
        let (records, groups) = try await store.write { db -> ([InstanceRecord], [String: String]) in
            try self.ensureDefaults(db, account: account, region: region)
            let subnets = try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "subnet")
                .fetchAll(db)
            let subnet: ResourceRecord
            if let id = input["SubnetId"]?.string {
                guard let s = subnets.first(where: { $0.id == id }) else { throw AWSError.invalidSubnetId(id) }
                subnet = s
            } else {
                let zone = input["Placement"]?["AvailabilityZone"]?.string
                let defaults = subnets.filter { ShapeValue(storageText: $0.body)["DefaultForAz"]?.bool == true }
                    .sorted { (ShapeValue(storageText: $0.body)["AvailabilityZone"]?.string ?? "") < (ShapeValue(storageText: $1.body)["AvailabilityZone"]?.string ?? "") }
                guard let s = defaults.first(where: { zone == nil || ShapeValue(storageText: $0.body)["AvailabilityZone"]?.string == zone }) else {
                    throw AWSError(code: "InvalidParameterValue", message: "Invalid availability zone: [\(zone ?? "")]")
                }
                subnet = s
            }
            let subnetShape = ShapeValue(storageText: subnet.body)
            if let key = input["KeyName"]?.string, try Self.publicKey(db, account: account, region: region, name: key) == nil {
                throw Self.keyPairNotFound(key)
            }
            let image = try self.imageLaunch(db, imageId: imageId, region: region)
            var launchAttributes: [(String, JSONValue)] = []
            if let command = image.command { launchAttributes.append(("image.command", .string(command))) }
            if let directory = image.directory { launchAttributes.append(("image.directory", .string(directory))) }
            if let profile = Self.instanceProfileArn(input["IamInstanceProfile"], account: account) {
                launchAttributes.append(("iam.profile", .string(profile)))
            }
            let names = try self.groupNames(db, account: account, region: region)
            var groupIds = (input["SecurityGroupIds"]?.list ?? []).compactMap(\.string)
            for id in groupIds where names[id] == nil { throw AWSError.invalidGroupId(id) }
            for name in (input["SecurityGroups"]?.list ?? []).compactMap(\.string) {
                guard let id = names.first(where: { $0.value == name })?.key else {
                    throw AWSError(code: "InvalidGroup.NotFound", message: "The security group '\(name)' does not exist in default VPC '\(subnet.vpcId ?? "")'")
                }
                groupIds.append(id)
            }
            if groupIds.isEmpty {
                let vpcGroups = try ResourceRecord.filter(Column("type") == "security-group" && Column("vpcId") == subnet.vpcId).fetchAll(db)
                groupIds = vpcGroups.filter { ShapeValue(storageText: $0.body)["GroupName"]?.string == "default" }.map(\.id)
            }
            var used = Set(try InstanceRecord.filter(Column("subnetId") == subnet.id).fetchAll(db).map(\.privateIp))
            var bound = Set(try String.fetchAll(db, sql: "SELECT bindAddress FROM ec2_instances"))
            let cidr = subnetShape["CidrBlock"]?.string ?? "172.31.0.0/20"
            var made: [InstanceRecord] = []
            for index in 0..<maxCount {
                guard let ip = Self.nextAddress(in: cidr, excluding: used) else {
                    throw AWSError(code: "InsufficientFreeAddressesInSubnet", message: "There are not enough free addresses in subnet '\(subnet.id)' to satisfy the requested number of instances.")
                }
                used.insert(ip)
                let bind = Self.nextLoopback(excluding: bound)
                bound.insert(bind)
                let record = InstanceRecord(
                    id: ResourceID.ec2("i"), accountId: account, region: region, reservationId: reservationId, imageId: imageId,
                    instanceType: input["InstanceType"]?.string ?? "m1.small", subnetId: subnet.id, vpcId: subnet.vpcId ?? "",
                    availabilityZone: subnetShape["AvailabilityZone"]?.string ?? region + "a", privateIp: ip, bindAddress: bind,
                    userData: userData, securityGroups: JSONValue.array(groupIds.map { .string($0) }).serialized(),
                    keyName: input["KeyName"]?.string, state: "pending", stateReason: nil, launchTime: now, forgetAt: nil, launchIndex: index,
                    attributes: JSONValue.object(launchAttributes).serialized())
                try record.insert(db)
                for (k, v) in tags { try TagRecord(resourceId: record.id, key: k, value: v).insert(db, onConflict: .replace) }
                made.append(record)
            }
            return (made, names)
        }
        let tagMap = Dictionary(tags, uniquingKeysWith: { _, b in b })
        let shapes = records.map { instanceShape($0, tags: tagMap, groups: groups) }
        for r in records { await supervisor.launch(r) }
        let groupIds = (try? JSONValue.parse(records.first?.securityGroups ?? "[]"))?.array?.compactMap(\.string) ?? []
        return [
            "ReservationId": .string(reservationId), "OwnerId": .string(account), "Instances": .list(shapes),
            "Groups": .list(groupIds.map { ["GroupId": .string($0), "GroupName": .string(groups[$0] ?? "")] }),
        ]
    }

    /// The lowest free host address of a subnet, after the four AWS reserves at its start.
    static func nextAddress(in cidr: String, excluding used: Set<String>) -> String? {
        let parts = cidr.split(separator: "/")
        let octets = parts.first?.split(separator: ".").compactMap { UInt32($0) } ?? []
        guard octets.count == 4, let prefix = parts.last.flatMap({ UInt32($0) }), prefix <= 28 else { return nil }
        let base = octets.reduce(0) { $0 << 8 | $1 }
        let size = UInt32(1) << (32 - prefix)
        for offset in 4..<(size - 1) {
            let n = base + offset
            let ip = "\(n >> 24).\(n >> 16 & 255).\(n >> 8 & 255).\(n & 255)"
            if !used.contains(ip) { return ip }
        }
        return nil
    }

    /// A loopback address of its own for an instance (never 127.0.0.1): 127.0.1.1, 127.0.1.2, ...
    static func nextLoopback(excluding used: Set<String>) -> String {
        var n: UInt32 = 257
        while true {
            let ip = "127.\(n >> 16 & 255).\(n >> 8 & 255).\(n & 255)"
            if n & 255 != 0, n & 255 != 255, !used.contains(ip) { return ip }
            n += 1
        }
    }

    /// Instances of the caller (ids checked: InvalidInstanceID.NotFound).
    func instances(_ call: OperationCall, ids: [String]) async throws -> [InstanceRecord] {
        let account = call.context.accountId, region = call.context.region
        let rows = try await store.read { db in
            try InstanceRecord.filter(Column("accountId") == account && Column("region") == region).order(Column("launchTime"), Column("id")).fetchAll(db)
        }
        if !ids.isEmpty {
            for id in ids where !rows.contains(where: { $0.id == id }) {
                guard id.hasPrefix("i-") else { throw AWSError(code: "InvalidInstanceID.Malformed", message: "Invalid id: \"\(id)\"") }
                throw AWSError.invalidInstanceId(id)
            }
            return rows.filter { ids.contains($0.id) }
        }
        return rows
    }

    func describeInstances(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let rows = try await instances(call, ids: (call.input["InstanceIds"]?.list ?? []).compactMap(\.string))
        let tags = try await tags(for: rows.map(\.id))
        let groups = try await store.read { db in try self.groupNames(db, account: account, region: region) }
        let filters = call.input["Filters"]?.list ?? []
        let matching = rows.compactMap { r -> (InstanceRecord, ShapeValue)? in
            var shape = instanceShape(r, tags: tags[r.id] ?? [:], groups: groups)
            if case .structure(var m) = shape {
                m["ReservationId"] = .string(r.reservationId)
                shape = .structure(m)
            }
            guard Filters.matches(shape, filters) else { return nil }
            removeReservationId(&shape)
            return (r, shape)
        }
        let page = try Self.page(matching, call.input)
        var reservations: [ShapeValue] = []
        var order: [String] = []
        var byReservation: [String: [ShapeValue]] = [:]
        for (r, shape) in page.items {
            if byReservation[r.reservationId] == nil { order.append(r.reservationId) }
            byReservation[r.reservationId, default: []].append(shape)
        }
        for id in order {
            reservations.append(["ReservationId": .string(id), "OwnerId": .string(account), "Groups": [], "Instances": .list(byReservation[id] ?? [])])
        }
        var out: [String: ShapeValue] = ["Reservations": .list(reservations)]
        if let next = page.next { out["NextToken"] = .string(next) }
        return .structure(out)
    }

    private func removeReservationId(_ shape: inout ShapeValue) {
        if case .structure(var m) = shape {
            m["ReservationId"] = nil
            shape = .structure(m)
        }
    }

    /// Terminate, stop, start, reboot: the state change, then the processes follow.
    func transition(_ call: OperationCall, to target: String) async throws -> ShapeValue {
        let ids = (call.input["InstanceIds"]?.list ?? []).compactMap(\.string)
        let rows = try await instances(call, ids: ids)
        if target == "terminated", let locked = rows.first(where: { Self.attributes($0)["disableApiTermination"] == "true" }) {
            throw AWSError(
                code: "OperationNotPermitted",
                message: "The instance '\(locked.id)' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.")
        }
        var changes: [ShapeValue] = []
        for r in rows {
            let previous = r.state
            var current = previous
            switch target {
            case "terminated":
                if previous != "terminated" { current = "shutting-down" }
            case "stopped":
                guard previous != "terminated", previous != "shutting-down" else {
                    throw AWSError(code: "IncorrectInstanceState", message: "This instance '\(r.id)' is not in a state from which it can be stopped.")
                }
                if previous == "running" || previous == "pending" { current = "stopping" }
            case "running":
                guard previous == "stopped" || previous == "running" || previous == "pending" else {
                    throw AWSError(code: "IncorrectInstanceState", message: "The instance '\(r.id)' is not in a state from which it can be started.")
                }
                if previous == "stopped" { current = "pending" }
            default: break
            }
            changes.append(["InstanceId": .string(r.id), "PreviousState": Self.stateShape(previous), "CurrentState": Self.stateShape(current)])
            if current != previous { try await supervisor.setState(r.id, current, reason: nil) }
        }
        for r in rows {
            switch target {
            case "terminated" where r.state != "terminated":
                await supervisor.halt(r.id, then: "terminated")
            case "stopped" where r.state == "running" || r.state == "pending":
                await supervisor.halt(r.id, then: "stopped")
            case "running" where r.state == "stopped":
                await supervisor.launch(r)
            default: break
            }
        }
        let member = ["terminated": "TerminatingInstances", "stopped": "StoppingInstances", "running": "StartingInstances"][target] ?? ""
        return [member: .list(changes)]
    }

    func terminateInstances(_ call: OperationCall) async throws -> ShapeValue { try await transition(call, to: "terminated") }
    func stopInstances(_ call: OperationCall) async throws -> ShapeValue { try await transition(call, to: "stopped") }
    func startInstances(_ call: OperationCall) async throws -> ShapeValue { try await transition(call, to: "running") }

    func rebootInstances(_ call: OperationCall) async throws -> ShapeValue {
        let rows = try await instances(call, ids: (call.input["InstanceIds"]?.list ?? []).compactMap(\.string))
        for r in rows where r.state == "running" {
            await supervisor.halt(r.id, then: "pending")
            await supervisor.launch(r)
        }
        return .empty
    }

    func getConsoleOutput(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["InstanceId"]?.string ?? ""
        _ = try await instances(call, ids: [id])
        let log = FileManager.default.contents(atPath: supervisor.consoleLog(id)) ?? Data()
        // The API carries the last 64 KiB, base64-encoded (the SDKs decode it).
        return ["InstanceId": .string(id), "Output": .string(Data(log.suffix(65536)).base64EncodedString()), "Timestamp": .timestamp(clock.now)]
    }

    func describeInstanceStatus(_ call: OperationCall) async throws -> ShapeValue {
        let rows = try await instances(call, ids: (call.input["InstanceIds"]?.list ?? []).compactMap(\.string))
        let all = call.input["IncludeAllInstances"]?.bool ?? false
        let statuses: [ShapeValue] = rows.filter { all || $0.state == "running" }.map { r in
            let alive = r.state != "running" || supervisor.isAlive(r.id)
            let check: ShapeValue = r.state == "running"
                ? ["Status": .string(alive ? "ok" : "impaired"), "Details": [["Name": "reachability", "Status": .string(alive ? "passed" : "failed")]]]
                : ["Status": "not-applicable"]
            return [
                "InstanceId": .string(r.id), "AvailabilityZone": .string(r.availabilityZone), "InstanceState": Self.stateShape(r.state),
                "InstanceStatus": check, "SystemStatus": r.state == "running" ? ["Status": "ok", "Details": [["Name": "reachability", "Status": "passed"]]] : ["Status": "not-applicable"],
            ]
        }
        return ["InstanceStatuses": .list(statuses)]
    }
}

extension EC2 {
    /// The instance profile RunInstances names (by ARN or name), as its ARN.
    static func instanceProfileArn(_ value: ShapeValue?, account: String) -> String? {
        if let arn = value?["Arn"]?.string, !arn.isEmpty { return arn }
        if let name = value?["Name"]?.string, !name.isEmpty { return "arn:aws:iam::\(account):instance-profile/\(name)" }
        return nil
    }

    /// An instance profile's id as AWS shows it (`AIPA` + 17 characters), stable for its ARN.
    static func profileId(_ arn: String) -> String { "AIPA" + String(Hashing.sha256Hex(Array(arn.utf8)).uppercased().prefix(17)) }

    /// The role an instance profile carries. Kumo has no IAM yet: a profile's role has the profile's name.
    static func profileRole(_ profileArn: String) -> (arn: String, name: String)? {
        guard let arn = ARN(profileArn), arn.resource.hasPrefix("instance-profile/") else { return nil }
        let name = String(arn.resource.split(separator: "/").last ?? "")
        return ("arn:aws:iam::\(arn.accountId):role/\(name)", name)
    }
}
