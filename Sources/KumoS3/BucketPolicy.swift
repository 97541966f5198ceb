import KumoCore
import KumoProtocols

/// A bucket policy: a resource policy whose actions are S3's and whose resources are this
/// bucket and its objects, checked when it is put and evaluated on every request.
struct BucketPolicy: Sendable {
    let document: ResourcePolicy

    var statements: [ResourcePolicy.Statement] { document.statements }

    init(text: String, bucket: String) throws {
        func malformed(_ m: String) -> AWSError { AWSError(code: "MalformedPolicy", message: m) }
        document = try ResourcePolicy(text: text)
        let arn = "arn:aws:s3:::" + bucket
        for s in document.statements {
            for a in s.actions + (s.notActions ?? []) where a != "*" && !a.lowercased().hasPrefix("s3:") {
                throw malformed("Policy has invalid action")
            }
            for r in s.resources + (s.notResources ?? []) {
                guard r == "*" || r == arn || r.hasPrefix(arn + "/") || (r.hasPrefix("arn:aws:s3:::") && Wildcard.matches(r, arn)) else {
                    throw malformed("Policy has invalid resource")
                }
            }
        }
    }

    /// Whether some Allow statement grants access to everyone (S3's notion of a public policy).
    var isPublic: Bool {
        statements.contains { s in
            s.effect == .allow && s.principals.contains { $0.value == "*" }
                && !s.conditions.contains { ["aws:SourceArn", "aws:SourceAccount", "aws:SourceIp", "aws:SourceVpce"].contains($0.key) }
        }
    }

    func evaluate(principal: PolicyPrincipal, action: String, resource: String, context: [String: String]) -> ResourcePolicy.Decision {
        document.evaluate(principal: principal, action: action, resource: resource, context: context)
    }
}
