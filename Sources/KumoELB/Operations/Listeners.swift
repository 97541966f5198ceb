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
    /// Checks actions as AWS does: forward targets exist, fixed responses and redirects are well formed.
    func checkActions(_ db: Database, _ actions: [ShapeValue], account: String) throws {
        guard !actions.isEmpty else { throw AWSError.elbValidation("At least one action must be specified") }
        for a in actions {
            switch a["Type"]?.string ?? "" {
            case "forward":
                let groups = Self.forwardedGroups([a])
                guard !groups.isEmpty else { throw AWSError.elbValidation("A target group ARN must be specified for a forward action") }
                for g in groups { _ = try record(db, g, kind: "targetgroup", account: account, notFound: .targetGroupNotFound()) }
                if let sticky = a["ForwardConfig"]?["TargetGroupStickinessConfig"], sticky["Enabled"]?.bool == true {
                    guard let seconds = sticky["DurationSeconds"]?.int else {
                        throw AWSError.elbValidation("You must specify a duration when enabling target group stickiness")
                    }
                    guard (1...604_800).contains(seconds) else {
                        throw AWSError.elbValidation("The target group stickiness duration must be between 1 and 604800 seconds")
                    }
                }
            case "fixed-response":
                let code = a["FixedResponseConfig"]?["StatusCode"]?.string ?? ""
                guard code.count == 3, ["2", "4", "5"].contains(code.prefix(1)), Int(code) != nil else {
                    throw AWSError.elbValidation("1 validation error detected: Value '\(code)' at 'fixedResponseConfig.statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$")
                }
            case "redirect":
                let code = a["RedirectConfig"]?["StatusCode"]?.string ?? ""
                guard code == "HTTP_301" || code == "HTTP_302" else {
                    throw AWSError.elbValidation("1 validation error detected: Value '\(code)' at 'redirectConfig.statusCode' failed to satisfy constraint: Member must satisfy enum value set: [HTTP_302, HTTP_301]")
                }
            case let other:
                throw AWSError(code: "InvalidLoadBalancerAction", message: "Action type '\(other)' is not supported by Kumo yet")
            }
        }
    }

    func createListener(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let lbArn = input["LoadBalancerArn"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let proto = input["Protocol"]?.string ?? "HTTP"
        guard proto == "HTTP" || proto == "HTTPS" else {
            throw AWSError(code: "UnsupportedProtocol", message: "Protocol '\(proto)' is not supported by application load balancers")
        }
        let port = input["Port"]?.int ?? (proto == "HTTPS" ? 443 : 80)
        guard (1...65535).contains(port) else { throw AWSError.elbValidation("Port must be between 1 and 65535") }
        if proto == "HTTPS", (input["Certificates"]?.list ?? []).isEmpty {
            throw AWSError.elbValidation("A certificate must be specified for HTTPS listeners")
        }
        try await checkCertificates(input["Certificates"])
        let actions = input["DefaultActions"]?.list ?? []
        let now = clock.now.timeIntervalSince1970
        let listener = try await write { db -> ShapeValue in
            let lb = try self.record(db, lbArn, kind: "loadbalancer", account: account, notFound: .loadBalancerNotFound())
            try self.checkActions(db, actions, account: account)
            if try ResourceRecord.filter(Column("parent") == lbArn && Column("kind") == "listener" && Column("name") == String(port)).fetchCount(db) > 0 {
                throw AWSError(code: "DuplicateListener", message: "A listener already exists on this port for this load balancer")
            }
            let lbPath = lb.arn.split(separator: ":").last.map { $0.dropFirst("loadbalancer/".count) } ?? ""
            let listenerHex = Self.hex16()
            let arn = "arn:aws:elasticloadbalancing:\(region):\(account):listener/\(lbPath)/\(listenerHex)"
            var shape: [String: ShapeValue] = [
                "ListenerArn": .string(arn), "LoadBalancerArn": .string(lbArn), "Port": .integer(Int64(port)), "Protocol": .string(proto),
                "DefaultActions": .list(actions),
            ]
            if let certificates = input["Certificates"] { shape["Certificates"] = certificates }
            if proto == "HTTPS" { shape["SslPolicy"] = .string(input["SslPolicy"]?.string ?? "ELBSecurityPolicy-2016-08") }
            try ResourceRecord(
                arn: arn, kind: "listener", accountId: account, region: region, name: String(port), parent: lbArn,
                body: ShapeValue.structure(shape).storageText, attributes: "{}", created: now
            ).insert(db)
            let ruleArn = "arn:aws:elasticloadbalancing:\(region):\(account):listener-rule/\(lbPath)/\(listenerHex)/\(Self.hex16())"
            let rule: ShapeValue = ["RuleArn": .string(ruleArn), "Priority": "default", "IsDefault": true, "Conditions": [], "Actions": .list(actions)]
            try ResourceRecord(
                arn: ruleArn, kind: "rule", accountId: account, region: region, name: "default", parent: arn, body: rule.storageText,
                attributes: "{}", created: now
            ).insert(db)
            return .structure(shape)
        }
        return ["Listeners": [listener]]
    }

    func describeListeners(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        var rows = try await store.read { db in try self.records(db, kind: "listener", account: account, region: region) }
        if let lb = call.input["LoadBalancerArn"]?.string {
            let exists = try await store.read { db in try ResourceRecord.fetchOne(db, key: lb) != nil }
            guard exists else { throw AWSError.loadBalancerNotFound() }
            rows = rows.filter { $0.parent == lb }
        }
        let arns = (call.input["ListenerArns"]?.list ?? []).compactMap(\.string)
        if !arns.isEmpty {
            guard arns.allSatisfy({ a in rows.contains { $0.arn == a } }) else { throw AWSError.listenerNotFound() }
            rows = rows.filter { arns.contains($0.arn) }
        }
        let page = try Self.page(rows, call.input)
        return Self.listOutput("Listeners", page.items.map { ShapeValue(storageText: $0.body) }, next: page.next)
    }

    func modifyListener(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["ListenerArn"]?.string ?? ""
        let account = call.context.accountId
        let input = call.input
        try await checkCertificates(input["Certificates"])
        let shape = try await write { db -> ShapeValue in
            var r = try self.record(db, arn, kind: "listener", account: account, notFound: .listenerNotFound())
            var m = ShapeValue(storageText: r.body).members ?? [:]
            if let actions = input["DefaultActions"]?.list {
                try self.checkActions(db, actions, account: account)
                m["DefaultActions"] = .list(actions)
                if var rule = try ResourceRecord.filter(Column("parent") == arn && Column("name") == "default").fetchOne(db) {
                    var rm = ShapeValue(storageText: rule.body).members ?? [:]
                    rm["Actions"] = .list(actions)
                    rule.body = ShapeValue.structure(rm).storageText
                    try rule.update(db)
                }
            }
            if let port = input["Port"]?.int {
                m["Port"] = .integer(Int64(port))
                r.name = String(port)
            }
            if let p = input["Protocol"] { m["Protocol"] = p }
            if let c = input["Certificates"] { m["Certificates"] = c }
            if m["Protocol"]?.string == "HTTPS" {
                if (m["Certificates"]?.list ?? []).isEmpty { throw AWSError.elbValidation("A certificate must be specified for HTTPS listeners") }
                if m["SslPolicy"] == nil { m["SslPolicy"] = .string(input["SslPolicy"]?.string ?? "ELBSecurityPolicy-2016-08") }
            } else {
                m["Certificates"] = nil
                m["SslPolicy"] = nil
            }
            r.body = ShapeValue.structure(m).storageText
            try r.update(db)
            return .structure(m)
        }
        return ["Listeners": [shape]]
    }

    /// Every certificate named must be one ACM holds.
    func checkCertificates(_ list: ShapeValue?) async throws {
        guard let certificates else { return }
        for c in list?.list ?? [] {
            let arn = c["CertificateArn"]?.string ?? ""
            if await certificates.serverCertificate(arn: arn) == nil {
                throw AWSError(code: "CertificateNotFound", message: "Certificate '\(arn)' not found")
            }
        }
    }

    /// A listener's certificates: the default (from `Certificates`), then those added to it.
    static func certificates(of listener: ResourceRecord) -> [String] {
        let main = (ShapeValue(storageText: listener.body)["Certificates"]?.list ?? []).compactMap { $0["CertificateArn"]?.string }
        let extra = added(attributes(listener.attributes))
        return main.prefix(1) + extra.filter { !main.prefix(1).contains($0) }
    }

    /// The certificates AddListenerCertificates added, from the listener's attributes.
    static func added(_ attributes: [String: String]) -> [String] {
        attributes[extraCertificates].map { $0.split(separator: " ").map(String.init) } ?? []
    }

    /// The listener attribute that keeps certificates added with AddListenerCertificates.
    static let extraCertificates = "kumo.certificates"

    func changeListenerCertificates(_ call: OperationCall, add: Bool) async throws -> ShapeValue {
        let arn = call.input["ListenerArn"]?.string ?? ""
        let account = call.context.accountId
        let given = (call.input["Certificates"]?.list ?? []).compactMap { $0["CertificateArn"]?.string }
        if add { try await checkCertificates(call.input["Certificates"]) }
        try await write { db in
            var r = try self.record(db, arn, kind: "listener", account: account, notFound: .listenerNotFound())
            let main = (ShapeValue(storageText: r.body)["Certificates"]?.list ?? []).compactMap { $0["CertificateArn"]?.string }.first
            var attributes = Self.attributes(r.attributes)
            var extra = Self.added(attributes)
            if add {
                for c in given where !extra.contains(c) && c != main { extra.append(c) }
                guard extra.count <= 25 else {
                    throw AWSError(code: "TooManyCertificates", message: "You've reached the limit on the number of certificates per load balancer")
                }
            } else {
                if let main, given.contains(main) { throw AWSError.elbValidation("The default certificate cannot be removed from a listener") }
                extra.removeAll { given.contains($0) }
            }
            attributes[Self.extraCertificates] = extra.isEmpty ? nil : extra.joined(separator: " ")
            r.attributes = Self.attributesText(attributes)
            try r.update(db)
        }
        return add ? ["Certificates": .list(given.map { ["CertificateArn": .string($0), "IsDefault": false] })] : .empty
    }

    func addListenerCertificates(_ call: OperationCall) async throws -> ShapeValue { try await changeListenerCertificates(call, add: true) }
    func removeListenerCertificates(_ call: OperationCall) async throws -> ShapeValue { try await changeListenerCertificates(call, add: false) }

    func describeListenerCertificates(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["ListenerArn"]?.string ?? ""
        let account = call.context.accountId
        let listener = try await store.read { db in try self.record(db, arn, kind: "listener", account: account, notFound: .listenerNotFound()) }
        let all = Self.certificates(of: listener).enumerated().map { i, c in ShapeValue.structure(["CertificateArn": .string(c), "IsDefault": .boolean(i == 0)]) }
        let page = try Self.page(all, call.input)
        return Self.listOutput("Certificates", page.items, next: page.next)
    }

    func deleteListener(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["ListenerArn"]?.string ?? ""
        let account = call.context.accountId
        try await write { db in
            let r = try self.record(db, arn, kind: "listener", account: account, notFound: .listenerNotFound())
            try ResourceRecord.filter(Column("parent") == arn).deleteAll(db)
            try r.delete(db)
        }
        return .empty
    }

    // MARK: rules

    static func checkConditions(_ conditions: [ShapeValue]) throws {
        let fields: Set = ["host-header", "path-pattern", "http-header", "http-request-method", "query-string", "source-ip"]
        var total = 0
        for c in conditions {
            let field = c["Field"]?.string ?? ""
            guard fields.contains(field) else {
                throw AWSError.elbValidation("Condition field '\(field)' must be one of [http-header, http-request-method, host-header, path-pattern, query-string, source-ip]")
            }
            let config = ["host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig", "http-header": "HttpHeaderConfig",
                          "http-request-method": "HttpRequestMethodConfig", "query-string": "QueryStringConfig", "source-ip": "SourceIpConfig"][field] ?? ""
            total += max((c["Values"]?.list ?? []).count, (c[config]?["Values"]?.list ?? []).count)
        }
        if total > 5 {
            throw AWSError(code: "TooManyConditionValues", message: "A rule can only have '5' condition values")
        }
    }

    func ruleShape(_ r: ResourceRecord) -> ShapeValue { ShapeValue(storageText: r.body) }

    func createRule(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let listenerArn = input["ListenerArn"]?.string ?? ""
        let account = call.context.accountId, region = call.context.region
        let priority = input["Priority"]?.int ?? 0
        guard (1...50000).contains(priority) else { throw AWSError.elbValidation("Priority must be between 1 and 50000") }
        let conditions = input["Conditions"]?.list ?? []
        try Self.checkConditions(conditions)
        let actions = input["Actions"]?.list ?? []
        let now = clock.now.timeIntervalSince1970
        let rule = try await write { db -> ShapeValue in
            let listener = try self.record(db, listenerArn, kind: "listener", account: account, notFound: .listenerNotFound())
            try self.checkActions(db, actions, account: account)
            if try ResourceRecord.filter(Column("parent") == listenerArn && Column("name") == String(priority)).fetchCount(db) > 0 {
                throw AWSError(code: "PriorityInUse", message: "Priority '\(priority)' is currently in use")
            }
            let path = listener.arn.split(separator: ":").last.map { $0.dropFirst("listener/".count) } ?? ""
            let arn = "arn:aws:elasticloadbalancing:\(region):\(account):listener-rule/\(path)/\(Self.hex16())"
            let shape: ShapeValue = [
                "RuleArn": .string(arn), "Priority": .string(String(priority)), "IsDefault": false, "Conditions": .list(conditions),
                "Actions": .list(actions),
            ]
            try ResourceRecord(
                arn: arn, kind: "rule", accountId: account, region: region, name: String(priority), parent: listenerArn,
                body: shape.storageText, attributes: "{}", created: now
            ).insert(db)
            for t in input["Tags"]?.list ?? [] {
                try TagRecord(resourceArn: arn, key: t["Key"]?.string ?? "", value: t["Value"]?.string ?? "").insert(db, onConflict: .replace)
            }
            return shape
        }
        return ["Rules": [rule]]
    }

    /// Rules by priority, the default rule last.
    static func ordered(_ rules: [ResourceRecord]) -> [ResourceRecord] {
        rules.sorted { (Int($0.name) ?? Int.max) < (Int($1.name) ?? Int.max) }
    }

    func describeRules(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId, region = call.context.region
        var rows = try await store.read { db in try self.records(db, kind: "rule", account: account, region: region) }
        if let listener = call.input["ListenerArn"]?.string {
            let exists = try await store.read { db in try ResourceRecord.fetchOne(db, key: listener) != nil }
            guard exists else { throw AWSError.listenerNotFound() }
            rows = rows.filter { $0.parent == listener }
        }
        let arns = (call.input["RuleArns"]?.list ?? []).compactMap(\.string)
        if !arns.isEmpty {
            guard arns.allSatisfy({ a in rows.contains { $0.arn == a } }) else { throw AWSError.ruleNotFound() }
            rows = rows.filter { arns.contains($0.arn) }
        }
        let page = try Self.page(Self.ordered(rows), call.input)
        return Self.listOutput("Rules", page.items.map(ruleShape), next: page.next)
    }

    func modifyRule(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["RuleArn"]?.string ?? ""
        let account = call.context.accountId
        let input = call.input
        let shape = try await write { db -> ShapeValue in
            var r = try self.record(db, arn, kind: "rule", account: account, notFound: .ruleNotFound())
            var m = ShapeValue(storageText: r.body).members ?? [:]
            if let conditions = input["Conditions"]?.list {
                guard r.name != "default" else { throw AWSError(code: "OperationNotPermitted", message: "Conditions cannot be set on a default rule") }
                try Self.checkConditions(conditions)
                m["Conditions"] = .list(conditions)
            }
            if let actions = input["Actions"]?.list {
                try self.checkActions(db, actions, account: account)
                m["Actions"] = .list(actions)
            }
            r.body = ShapeValue.structure(m).storageText
            try r.update(db)
            return .structure(m)
        }
        return ["Rules": [shape]]
    }

    func deleteRule(_ call: OperationCall) async throws -> ShapeValue {
        let arn = call.input["RuleArn"]?.string ?? ""
        let account = call.context.accountId
        try await write { db in
            let r = try self.record(db, arn, kind: "rule", account: account, notFound: .ruleNotFound())
            guard r.name != "default" else { throw AWSError(code: "OperationNotPermitted", message: "Default rule '\(arn)' cannot be deleted") }
            try r.delete(db)
        }
        return .empty
    }

    func setRulePriorities(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        let pairs = (call.input["RulePriorities"]?.list ?? []).map { ($0["RuleArn"]?.string ?? "", $0["Priority"]?.int ?? 0) }
        let rules = try await write { db -> [ShapeValue] in
            var changed: [ResourceRecord] = []
            for (arn, priority) in pairs {
                var r = try self.record(db, arn, kind: "rule", account: account, notFound: .ruleNotFound())
                guard r.name != "default" else { throw AWSError(code: "OperationNotPermitted", message: "Default rule '\(arn)' cannot be reprioritized") }
                r.name = String(priority)
                var m = ShapeValue(storageText: r.body).members ?? [:]
                m["Priority"] = .string(String(priority))
                r.body = ShapeValue.structure(m).storageText
                changed.append(r)
            }
            for r in changed {
                let clash = try ResourceRecord.filter(Column("parent") == r.parent && Column("name") == r.name && Column("arn") != r.arn).fetchAll(db)
                if clash.contains(where: { c in !changed.contains { $0.arn == c.arn } }) {
                    throw AWSError(code: "PriorityInUse", message: "Priority '\(r.name)' is currently in use")
                }
            }
            for r in changed { try r.update(db) }
            return changed.map { ShapeValue(storageText: $0.body) }
        }
        return ["Rules": .list(rules)]
    }
}
