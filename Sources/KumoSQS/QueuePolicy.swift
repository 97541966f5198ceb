import KumoCore
import KumoProtocols

/// A queue's access policy, as SQS evaluates it for callers from other accounts: an explicit
/// Deny wins, then an Allow whose principal, action (`sqs:SendMessage`, `sqs:*`, wildcards) and
/// resource (the queue's ARN, wildcards) match.
enum QueuePolicy {
    static func allows(_ policyText: String?, account: String, principalArn: String?, action: String, queueArn: String) -> Bool {
        guard let text = policyText, let policy = try? JSONValue.parse(text) else { return false }
        let statements = policy["Statement"]?.array ?? policy["Statement"].map { [$0] } ?? []
        func strings(_ v: JSONValue?) -> [String] { v?.string.map { [$0] } ?? v?.array?.compactMap(\.string) ?? [] }
        func matches(_ s: JSONValue) -> Bool {
            let principal = s["Principal"]
            let names = principal?.string.map { [$0] } ?? strings(principal?["AWS"])
            let principalOK = names.contains { n in
                n == "*" || n == account || n == "arn:aws:iam::\(account):root" || (principalArn.map { Wildcard.matches(n, $0) } ?? false)
            }
            let actionOK = strings(s["Action"]).contains { Wildcard.matches($0.lowercased(), action.lowercased()) || $0 == "*" }
            let resources = strings(s["Resource"])
            let resourceOK = resources.isEmpty || resources.contains { Wildcard.matches($0, queueArn) }
            return principalOK && actionOK && resourceOK
        }
        if statements.contains(where: { $0["Effect"]?.string == "Deny" && matches($0) }) { return false }
        return statements.contains { $0["Effect"]?.string == "Allow" && matches($0) }
    }
}

extension AWSError {
    static func sqsAccessDenied(_ url: String) -> AWSError {
        AWSError(code: "AccessDenied", message: "Access to the resource \(url) is denied.", status: 403, queryCode: "AccessDenied")
    }
}
