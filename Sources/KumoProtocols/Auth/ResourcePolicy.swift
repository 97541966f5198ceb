public import KumoCore

/// Who is asking, as a policy sees it.
public struct PolicyPrincipal: Sendable {
    /// nil for an anonymous request.
    public var accountId: String?
    public var arn: String?
    /// `cloudfront.amazonaws.com` when a service calls on its own behalf.
    public var service: String?

    public init(accountId: String?, arn: String?, service: String? = nil) {
        self.accountId = accountId
        self.arn = arn
        self.service = service
    }
}

/// A resource-based policy document (a bucket policy, a queue policy): parsed once, then
/// evaluated for a principal, an action, a resource and the request's condition keys. An
/// explicit Deny wins; otherwise a matching Allow allows; otherwise the policy says nothing.
public struct ResourcePolicy: Sendable {
    public enum Effect: String, Sendable { case allow = "Allow", deny = "Deny" }
    public enum Decision: Sendable { case allow, deny, none }

    public struct Statement: Sendable {
        public var effect: Effect
        /// nil with `NotPrincipal`.
        public var principals: [(kind: String, value: String)]
        public var notPrincipals: [(kind: String, value: String)]?
        public var actions: [String]
        public var notActions: [String]?
        public var resources: [String]
        public var notResources: [String]?
        /// operator → key → values
        public var conditions: [(op: String, key: String, values: [String])]
    }

    public var statements: [Statement]

    /// Parses the document; a malformed one throws `MalformedPolicy` with AWS's words.
    public init(text: String) throws {
        func malformed(_ m: String) -> AWSError { AWSError(code: "MalformedPolicy", message: m) }
        guard text.utf8.first == UInt8(ascii: "{"), let json = try? JSONValue.parse(text) else {
            throw malformed("Policies must be valid JSON and the first byte must be '{'")
        }
        let list: [JSONValue]
        switch json["Statement"] {
        case .array(let a)?: list = a
        case .object?: list = [json["Statement"]!]
        default: throw malformed("Missing required field Statement")
        }
        guard !list.isEmpty else { throw malformed("Could not parse the policy: Statement is empty!") }
        func strings(_ v: JSONValue?) -> [String]? {
            switch v {
            case .string(let s)?: [s]
            case .array(let a)?: a.compactMap(\.string)
            default: nil
            }
        }
        func principals(_ v: JSONValue?) throws -> [(String, String)]? {
            guard let v else { return nil }
            if v.string == "*" { return [("AWS", "*")] }
            guard case .object(let pairs) = v else { throw malformed("Invalid principal in policy") }
            var out: [(String, String)] = []
            for (kind, value) in pairs {
                guard ["AWS", "Service", "CanonicalUser", "Federated"].contains(kind), let values = strings(value) else {
                    throw malformed("Invalid principal in policy")
                }
                out += values.map { (kind, $0) }
            }
            return out
        }
        statements = try list.map { s in
            guard let effectText = s["Effect"]?.string else { throw malformed("Missing required field Effect") }
            guard let effect = Effect(rawValue: effectText) else { throw malformed("Invalid effect: \(effectText)") }
            let principal = try principals(s["Principal"])
            let notPrincipal = try principals(s["NotPrincipal"])
            guard principal != nil || notPrincipal != nil else { throw malformed("Missing required field Principal") }
            let actions = strings(s["Action"])
            let notActions = strings(s["NotAction"])
            guard actions != nil || notActions != nil else { throw malformed("Missing required field Action") }
            let resources = strings(s["Resource"])
            let notResources = strings(s["NotResource"])
            guard resources != nil || notResources != nil else { throw malformed("Missing required field Resource") }
            var conditions: [(String, String, [String])] = []
            if let c = s["Condition"] {
                guard case .object(let ops) = c else { throw malformed("Invalid Condition") }
                for (op, keys) in ops {
                    guard case .object(let pairs) = keys else { throw malformed("Invalid Condition") }
                    for (key, value) in pairs {
                        let values = value.bool.map { [$0 ? "true" : "false"] } ?? strings(value) ?? []
                        conditions.append((op, key, values))
                    }
                }
            }
            return Statement(
                effect: effect, principals: principal ?? [], notPrincipals: notPrincipal, actions: actions ?? [],
                notActions: notActions, resources: resources ?? [], notResources: notResources, conditions: conditions)
        }
    }

    public func evaluate(principal: PolicyPrincipal, action: String, resource: String, context: [String: String] = [:]) -> Decision {
        var allowed = false
        for s in statements {
            guard Self.principalMatches(s, principal) else { continue }
            let actionMatch = s.notActions.map { list in !list.contains { Wildcard.matches($0.lowercased(), action.lowercased()) } }
                ?? s.actions.contains { Wildcard.matches($0.lowercased(), action.lowercased()) }
            guard actionMatch else { continue }
            let resourceMatch = s.notResources.map { list in !list.contains { Wildcard.matches($0, resource) } }
                ?? s.resources.contains { Wildcard.matches($0, resource) }
            guard resourceMatch, Self.conditionsHold(s.conditions, context) else { continue }
            if s.effect == .deny { return .deny }
            allowed = true
        }
        return allowed ? .allow : .none
    }

    static func principalMatches(_ s: Statement, _ p: PolicyPrincipal) -> Bool {
        func matches(_ kind: String, _ value: String) -> Bool {
            switch kind {
            case "AWS":
                if value == "*" { return true }
                guard let account = p.accountId else { return false }
                if value == account || value == "arn:aws:iam::\(account):root" { return true }
                return p.arn.map { Wildcard.matches(value, $0) } ?? false
            case "Service": return p.service == value
            default: return false
            }
        }
        if let not = s.notPrincipals { return !not.contains { matches($0.kind, $0.value) } }
        return s.principals.contains { matches($0.kind, $0.value) }
    }

    static func conditionsHold(_ conditions: [(op: String, key: String, values: [String])], _ context: [String: String]) -> Bool {
        for c in conditions {
            var op = c.op
            let ifExists = op.hasSuffix("IfExists")
            if ifExists { op.removeLast("IfExists".count) }
            if op.hasPrefix("ForAnyValue:") { op.removeFirst("ForAnyValue:".count) }
            if op.hasPrefix("ForAllValues:") { op.removeFirst("ForAllValues:".count) }
            let actual = context.first { $0.key.lowercased() == c.key.lowercased() }?.value
            if op == "Null" {
                let wantNull = c.values.first == "true"
                if (actual == nil) != wantNull { return false }
                continue
            }
            guard let actual else {
                if ifExists { continue }
                // A negated operator holds when the key is absent.
                if op.hasPrefix("StringNot") || op.hasPrefix("ArnNot") || op == "NotIpAddress" { continue }
                return false
            }
            let holds: Bool
            switch op {
            case "StringEquals", "ArnEquals": holds = c.values.contains(actual)
            case "StringNotEquals", "ArnNotEquals": holds = !c.values.contains(actual)
            case "StringEqualsIgnoreCase": holds = c.values.contains { $0.lowercased() == actual.lowercased() }
            case "StringNotEqualsIgnoreCase": holds = !c.values.contains { $0.lowercased() == actual.lowercased() }
            case "StringLike", "ArnLike": holds = c.values.contains { Wildcard.matches($0, actual) }
            case "StringNotLike", "ArnNotLike": holds = !c.values.contains { Wildcard.matches($0, actual) }
            case "Bool": holds = c.values.contains { $0.lowercased() == actual.lowercased() }
            case "IpAddress": holds = c.values.contains { CIDR($0)?.contains(actual) ?? false }
            case "NotIpAddress": holds = !c.values.contains { CIDR($0)?.contains(actual) ?? false }
            case "NumericEquals": holds = c.values.contains { Double($0) == Double(actual) }
            case "NumericLessThan": holds = c.values.contains { (Double(actual) ?? .nan) < (Double($0) ?? .nan) }
            case "NumericGreaterThan": holds = c.values.contains { (Double(actual) ?? .nan) > (Double($0) ?? .nan) }
            default: holds = false
            }
            if !holds { return false }
        }
        return true
    }

}
