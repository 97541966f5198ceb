import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Launch templates: named, versioned RunInstances parameters (the `launch-template` and
/// `launch-template-version` rows of `ec2_resources`; a version's id is `<template id>#<n>`).
extension EC2 {
    func template(_ db: Database, id: String?, name: String?, account: String, region: String) throws -> ResourceRecord {
        let rows = try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "launch-template").fetchAll(db)
        if let id {
            guard let r = rows.first(where: { $0.id == id }) else {
                throw AWSError(code: "InvalidLaunchTemplateId.NotFound", message: "The specified launch template, with template ID \(id), does not exist.")
            }
            return r
        }
        guard let r = rows.first(where: { ShapeValue(storageText: $0.body)["LaunchTemplateName"]?.string == name }) else {
            throw AWSError(
                code: "InvalidLaunchTemplateName.NotFoundException", message: "The specified launch template, with template name \(name ?? ""), does not exist.")
        }
        return r
    }

    /// A version by number, `$Latest` or `$Default` (the default when nil).
    func version(_ db: Database, template: ResourceRecord, _ asked: String?) throws -> ResourceRecord {
        let shape = ShapeValue(storageText: template.body)
        let number: Int
        switch asked {
        case nil, "$Default": number = shape["DefaultVersionNumber"]?.int ?? 1
        case "$Latest": number = shape["LatestVersionNumber"]?.int ?? 1
        case let text?:
            guard let n = Int(text) else {
                throw AWSError(code: "InvalidLaunchTemplateId.VersionNotFound", message: "Could not find launch template version \(text) for \(template.id).")
            }
            number = n
        }
        guard let v = try ResourceRecord.fetchOne(db, key: template.id + "#" + String(number)) else {
            throw AWSError(code: "InvalidLaunchTemplateId.VersionNotFound", message: "Could not find launch template version \(number) for \(template.id).")
        }
        return v
    }

    func createLaunchTemplate(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let name = call.input["LaunchTemplateName"]?.string ?? ""
        guard (3...128).contains(name.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "()./_-".contains($0) }) else {
            throw AWSError(code: "InvalidLaunchTemplateName.MalformedException", message: "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
        }
        let data = call.input["LaunchTemplateData"] ?? .empty
        let id = ResourceID.ec2("lt")
        let now = clock.now
        let creator = call.context.identity?.arn ?? "arn:aws:iam::\(account):root"
        let template: ShapeValue = [
            "LaunchTemplateId": .string(id), "LaunchTemplateName": .string(name), "CreateTime": .timestamp(now), "CreatedBy": .string(creator),
            "DefaultVersionNumber": 1, "LatestVersionNumber": 1,
        ]
        let version: ShapeValue = [
            "LaunchTemplateId": .string(id), "LaunchTemplateName": .string(name), "VersionNumber": 1, "CreateTime": .timestamp(now),
            "CreatedBy": .string(creator), "LaunchTemplateData": data,
            "VersionDescription": .string(call.input["VersionDescription"]?.string ?? ""),
        ]
        let tags = Self.specifiedTags(call.input, resourceType: "launch-template")
        try await store.write { db in
            let taken = try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "launch-template")
                .fetchAll(db).contains { ShapeValue(storageText: $0.body)["LaunchTemplateName"]?.string == name }
            if taken {
                throw AWSError(code: "InvalidLaunchTemplateName.AlreadyExistsException", message: "Launch template name already in use.")
            }
            try ResourceRecord(id: id, accountId: account, region: region, type: "launch-template", vpcId: nil, body: template.storageText).insert(db)
            try ResourceRecord(id: id + "#1", accountId: account, region: region, type: "launch-template-version", vpcId: nil, body: version.storageText)
                .insert(db)
            for (k, v) in tags { try TagRecord(resourceId: id, key: k, value: v).insert(db, onConflict: .replace) }
        }
        return ["LaunchTemplate": template]
    }

    func createLaunchTemplateVersion(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let input = call.input
        let now = clock.now
        let creator = call.context.identity?.arn ?? "arn:aws:iam::\(account):root"
        let version = try await store.write { db -> ShapeValue in
            var t = try self.template(db, id: input["LaunchTemplateId"]?.string, name: input["LaunchTemplateName"]?.string, account: account, region: region)
            var shape = ShapeValue(storageText: t.body).members ?? [:]
            let next = (shape["LatestVersionNumber"]?.int ?? 1) + 1
            var data = input["LaunchTemplateData"]?.members ?? [:]
            if let source = input["SourceVersion"]?.string {
                // A new version from an old one: the old data, with the new members on top.
                var base = ShapeValue(storageText: try self.version(db, template: t, source).body)["LaunchTemplateData"]?.members ?? [:]
                for (k, v) in data { base[k] = v }
                data = base
            }
            let version: ShapeValue = [
                "LaunchTemplateId": .string(t.id), "LaunchTemplateName": shape["LaunchTemplateName"] ?? "", "VersionNumber": .integer(Int64(next)),
                "CreateTime": .timestamp(now), "CreatedBy": .string(creator), "LaunchTemplateData": .structure(data),
                "VersionDescription": .string(input["VersionDescription"]?.string ?? ""), "DefaultVersion": false,
            ]
            try ResourceRecord(id: t.id + "#" + String(next), accountId: account, region: region, type: "launch-template-version", vpcId: nil,
                               body: version.storageText).insert(db)
            shape["LatestVersionNumber"] = .integer(Int64(next))
            t.body = ShapeValue.structure(shape).storageText
            try t.update(db)
            return version
        }
        return ["LaunchTemplateVersion": version]
    }

    func modifyLaunchTemplate(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let input = call.input
        let template = try await store.write { db -> ShapeValue in
            var t = try self.template(db, id: input["LaunchTemplateId"]?.string, name: input["LaunchTemplateName"]?.string, account: account, region: region)
            var shape = ShapeValue(storageText: t.body).members ?? [:]
            if let asked = input["DefaultVersion"]?.string {
                let v = try self.version(db, template: t, asked)
                shape["DefaultVersionNumber"] = ShapeValue(storageText: v.body)["VersionNumber"] ?? 1
            }
            t.body = ShapeValue.structure(shape).storageText
            try t.update(db)
            return .structure(shape)
        }
        return ["LaunchTemplate": template]
    }

    func describeLaunchTemplates(_ call: OperationCall) async throws -> ShapeValue {
        var rows = try await resources(call, type: "launch-template").map(\.1)
        let ids = (call.input["LaunchTemplateIds"]?.list ?? []).compactMap(\.string)
        let names = (call.input["LaunchTemplateNames"]?.list ?? []).compactMap(\.string)
        if !ids.isEmpty {
            try Self.requireIds(ids, found: Set(rows.compactMap { $0["LaunchTemplateId"]?.string })) {
                AWSError(code: "InvalidLaunchTemplateId.NotFound", message: "The specified launch template, with template ID \($0), does not exist.")
            }
            rows = rows.filter { ids.contains($0["LaunchTemplateId"]?.string ?? "") }
        }
        if !names.isEmpty {
            try Self.requireIds(names, found: Set(rows.compactMap { $0["LaunchTemplateName"]?.string })) {
                AWSError(code: "InvalidLaunchTemplateName.NotFoundException", message: "The specified launch template, with template name \($0), does not exist.")
            }
            rows = rows.filter { names.contains($0["LaunchTemplateName"]?.string ?? "") }
        }
        rows = rows.filter { Filters.matches($0, call.input["Filters"]?.list ?? []) }
        let page = try Self.page(rows, call.input)
        var out: [String: ShapeValue] = ["LaunchTemplates": .list(page.items)]
        if let next = page.next { out["NextToken"] = .string(next) }
        return .structure(out)
    }

    func describeLaunchTemplateVersions(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let input = call.input
        let versions = try await store.read { db -> [ShapeValue] in
            let t = try self.template(db, id: input["LaunchTemplateId"]?.string, name: input["LaunchTemplateName"]?.string, account: account, region: region)
            let defaultNumber = ShapeValue(storageText: t.body)["DefaultVersionNumber"]?.int ?? 1
            let asked = (input["Versions"]?.list ?? []).compactMap(\.string)
            let rows = asked.isEmpty
                ? try ResourceRecord.filter(Column("id").like(t.id + "#%")).fetchAll(db)
                : try asked.map { try self.version(db, template: t, $0) }
            return rows.map { r in
                var m = ShapeValue(storageText: r.body).members ?? [:]
                m["DefaultVersion"] = .boolean(m["VersionNumber"]?.int == defaultNumber)
                return .structure(m)
            }.sorted { ($0["VersionNumber"]?.int ?? 0) > ($1["VersionNumber"]?.int ?? 0) }
        }
        return ["LaunchTemplateVersions": .list(versions)]
    }

    func deleteLaunchTemplate(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        let input = call.input
        let shape = try await store.write { db -> ShapeValue in
            let t = try self.template(db, id: input["LaunchTemplateId"]?.string, name: input["LaunchTemplateName"]?.string, account: account, region: region)
            try ResourceRecord.filter(Column("id").like(t.id + "#%")).deleteAll(db)
            try t.delete(db)
            try TagRecord.filter(Column("resourceId") == t.id).deleteAll(db)
            return ShapeValue(storageText: t.body)
        }
        return ["LaunchTemplate": shape]
    }

    /// RunInstances parameters with a launch template's data underneath: what the call gives
    /// wins, tags of both apply, the template's first network interface gives subnet and groups.
    func withLaunchTemplate(_ call: OperationCall) async throws -> ShapeValue {
        guard let spec = call.input["LaunchTemplate"] else { return call.input }
        let account = call.context.accountId, region = call.context.region
        let (data, templateId, number) = try await store.read { db -> ([String: ShapeValue], String, Int) in
            let t = try self.template(db, id: spec["LaunchTemplateId"]?.string, name: spec["LaunchTemplateName"]?.string, account: account, region: region)
            let version = ShapeValue(storageText: try self.version(db, template: t, spec["Version"]?.string).body)
            return (version["LaunchTemplateData"]?.members ?? [:], t.id, version["VersionNumber"]?.int ?? 1)
        }
        var merged = call.input.members ?? [:]
        for key in ["ImageId", "InstanceType", "UserData", "SecurityGroupIds", "SecurityGroups", "KeyName", "Placement", "IamInstanceProfile"]
        where merged[key] == nil {
            if let v = data[key] { merged[key] = v }
        }
        if let nic = data["NetworkInterfaces"]?.list?.first {
            if merged["SubnetId"] == nil, let subnet = nic["SubnetId"] { merged["SubnetId"] = subnet }
            if merged["SecurityGroupIds"] == nil, let groups = nic["Groups"] { merged["SecurityGroupIds"] = groups }
        }
        // As on AWS, an instance launched from a template is tagged with the template and version it came from.
        let origin: ShapeValue = [
            "ResourceType": "instance",
            "Tags": [["Key": "aws:ec2launchtemplate:id", "Value": .string(templateId)], ["Key": "aws:ec2launchtemplate:version", "Value": .string(String(number))]],
        ]
        merged["TagSpecifications"] = .list((data["TagSpecifications"]?.list ?? []) + (call.input["TagSpecifications"]?.list ?? []) + [origin])
        guard merged["ImageId"] != nil else {
            throw AWSError(code: "MissingParameter", message: "The request must contain the parameter ImageId")
        }
        return .structure(merged)
    }
}
