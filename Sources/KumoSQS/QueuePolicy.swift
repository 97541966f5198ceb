import KumoCore
import KumoProtocols

/// A queue's `Policy` attribute, evaluated as the resource policy it is (for callers from other
/// accounts and for services that deliver into the queue). A policy that does not parse allows nothing.
enum QueuePolicy {
    static func allows(_ policyText: String?, principal: PolicyPrincipal, action: String, queueArn: String, context: [String: String] = [:]) -> Bool {
        guard let policyText, let policy = try? ResourcePolicy(text: policyText) else { return false }
        return policy.evaluate(principal: principal, action: action, resource: queueArn, context: context) == .allow
    }
}

extension AWSError {
    static func sqsAccessDenied(_ url: String) -> AWSError {
        AWSError(code: "AccessDenied", message: "Access to the resource \(url) is denied.", status: 403, queryCode: "AccessDenied")
    }
}
