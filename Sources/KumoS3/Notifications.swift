import KumoCore
import KumoProtocols

/// Bucket notification configurations: checked when put. Delivery into SQS/SNS/Lambda
/// arrives with those services.
enum Notifications {
    static let events: Set = [
        "s3:TestEvent", "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject", "s3:Replication:*", "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationMissedThreshold", "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:Replication:OperationNotTracked", "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put",
    ]

    static func validate(_ config: ShapeValue) throws {
        let kinds: [(list: String, arn: String, service: String)] = [
            ("QueueConfigurations", "QueueArn", "sqs"), ("TopicConfigurations", "TopicArn", "sns"),
            ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda"),
        ]
        var ids: Set<String> = []
        for kind in kinds {
            for entry in config[kind.list]?.list ?? [] {
                let arn = entry[kind.arn]?.string ?? ""
                let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count >= 6, parts[0] == "arn", parts[2] == Substring(kind.service), parts[4].count == 12 else {
                    throw AWSError(
                        code: "InvalidArgument", message: "The ARN is not well formed",
                        fields: [.init("ArgumentName", kind.arn), .init("ArgumentValue", arn)])
                }
                let events = (entry["Events"]?.list ?? []).compactMap(\.string)
                guard !events.isEmpty else { throw AWSError.malformedXML() }
                for e in events where !Self.events.contains(e) {
                    throw AWSError(
                        code: "InvalidArgument", message: "The event is not supported for notifications",
                        fields: [.init("ArgumentName", "Event"), .init("ArgumentValue", e)])
                }
                var names: Set<String> = []
                for rule in entry["Filter"]?["Key"]?["FilterRules"]?.list ?? [] {
                    let name = (rule["Name"]?.string ?? "").lowercased()
                    guard name == "prefix" || name == "suffix" else {
                        throw AWSError(
                            code: "InvalidArgument", message: "filter rule name must be either prefix or suffix",
                            fields: [.init("ArgumentName", "FilterRule.Name"), .init("ArgumentValue", rule["Name"]?.string ?? "")])
                    }
                    guard names.insert(name).inserted else {
                        throw AWSError(
                            code: "InvalidArgument", message: "Cannot specify more than one \(name) rule in a filter.",
                            fields: [.init("ArgumentName", "FilterRule.Name"), .init("ArgumentValue", name)])
                    }
                }
                if let id = entry["Id"]?.string, !ids.insert(id).inserted {
                    throw AWSError(
                        code: "InvalidArgument", message: "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the prefixes are overlapping for the same event type.",
                        fields: [.init("ArgumentName", "Id"), .init("ArgumentValue", id)])
                }
            }
        }
    }
}
