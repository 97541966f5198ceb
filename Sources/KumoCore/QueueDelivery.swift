/// How a service sends messages into queues without importing the queue service
/// (S3 event notifications into SQS). The `kumo` executable wires SQS in.
public protocol QueueDelivery: Sendable {
    /// Checks that `queueArn` exists and that its policy lets the S3 service send to it on
    /// behalf of `sourceArn` (a bucket of `sourceAccount`); throws the error S3 answers when it does not.
    func checkDelivery(to queueArn: String, from sourceArn: String, sourceAccount: String) async throws
    /// Sends one message; returns false when the queue is gone.
    func deliver(to queueArn: String, body: String) async throws -> Bool
}
