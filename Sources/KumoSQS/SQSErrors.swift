import KumoCore

/// SQS's errors: JSON codes for current SDKs, and the legacy query codes that
/// awsQueryCompatible clients (and the query protocol) still match on.
extension AWSError {
    static func queueDoesNotExist() -> AWSError {
        AWSError(code: "QueueDoesNotExist", message: "The specified queue does not exist.", queryCode: "AWS.SimpleQueueService.NonExistentQueue")
    }

    static func queueNameExists(_ name: String) -> AWSError {
        AWSError(
            code: "QueueNameExists", message: "A queue already exists with the same name and a different value for attribute(s) \(name)",
            queryCode: "QueueAlreadyExists")
    }

    static func sqsInvalidParameter(_ message: String) -> AWSError {
        AWSError(code: "InvalidParameterValueException", message: message, queryCode: "InvalidParameterValue")
    }

    /// A queue attribute whose value SQS refuses (out of range, not a boolean, a policy that does not parse).
    static func invalidAttributeValue(_ name: String, reason: String? = nil) -> AWSError {
        AWSError(
            code: "InvalidAttributeValue", message: "Invalid value for the parameter \(name)." + (reason.map { " Reason: \($0)" } ?? ""),
            queryCode: "InvalidAttributeValue")
    }

    static func invalidAttributeName(_ name: String) -> AWSError {
        AWSError(code: "InvalidAttributeName", message: "Unknown Attribute \(name).", queryCode: "InvalidAttributeName")
    }

    static func receiptHandleIsInvalid(_ handle: String) -> AWSError {
        AWSError(
            code: "ReceiptHandleIsInvalid", message: "The input receipt handle \"\(handle)\" is not a valid receipt handle.",
            queryCode: "ReceiptHandleIsInvalid")
    }

    static func messageNotInflight() -> AWSError {
        AWSError(code: "MessageNotInflight", message: "The message referred to isn't in flight.", queryCode: "AWS.SimpleQueueService.MessageNotInflight")
    }

    static func purgeQueueInProgress(_ name: String) -> AWSError {
        AWSError(
            code: "PurgeQueueInProgress", message: "Only one PurgeQueue operation on \(name) is allowed every 60 seconds.",
            status: 403, queryCode: "AWS.SimpleQueueService.PurgeQueueInProgress")
    }

    static func emptyBatch() -> AWSError {
        AWSError(code: "EmptyBatchRequest", message: "There should be at least one SendMessageBatchRequestEntry in the request.", queryCode: "AWS.SimpleQueueService.EmptyBatchRequest")
    }

    static func tooManyEntries(_ n: Int) -> AWSError {
        AWSError(
            code: "TooManyEntriesInBatchRequest", message: "Maximum number of entries per request are 10. You have sent \(n).",
            queryCode: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
    }

    static func idsNotDistinct(_ id: String) -> AWSError {
        AWSError(code: "BatchEntryIdsNotDistinct", message: "Id \(id) repeated.", queryCode: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
    }

    static func invalidBatchEntryId(_ id: String) -> AWSError {
        AWSError(
            code: "InvalidBatchEntryId",
            message: "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            queryCode: "AWS.SimpleQueueService.InvalidBatchEntryId")
    }
}
