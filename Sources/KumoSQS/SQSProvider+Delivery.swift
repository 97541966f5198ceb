public import KumoCore
import KumoProtocols
import GRDB
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SQSProvider: QueueDelivery {
    func record(arn: String) async throws -> QueueRecord? {
        guard let key = QueueRecord.key(arn: arn) else { return nil }
        return try await sqs.store.read { db in try QueueRecord.fetchOne(db, key: key) }
    }

    public func checkDelivery(to queueArn: String, from sourceArn: String, sourceAccount: String) async throws {
        let invalid = AWSError(
            code: "InvalidArgument", message: "Unable to validate the following destination configurations",
            fields: [.init("ArgumentName", queueArn), .init("ArgumentValue", "Permissions on the destination queue do not allow S3 to publish notifications from this bucket")])
        guard let q = try await record(arn: queueArn) else {
            var e = invalid
            e.fields = [.init("ArgumentName", queueArn), .init("ArgumentValue", "The destination queue does not exist")]
            throw e
        }
        let allowed = QueuePolicy.allows(
            q.attributes["Policy"], principal: PolicyPrincipal(accountId: nil, arn: nil, service: "s3.amazonaws.com"), action: "sqs:SendMessage",
            queueArn: q.arn, context: ["aws:SourceArn": sourceArn, "aws:SourceAccount": sourceAccount])
        guard allowed else { throw invalid }
    }

    public func deliver(to queueArn: String, body: String) async throws -> Bool {
        guard let q = try await record(arn: queueArn) else { return false }
        let now = sqs.clock.now
        var input: [String: ShapeValue] = ["MessageBody": .string(body)]
        if q.isFifo { return false }  // S3 does not deliver to FIFO queues
        input["QueueUrl"] = .string(q.id)
        let (record, _) = try sqs.prepare(.structure(input), queue: q, now: now)
        _ = try await sqs.enqueue(q, [record], now: now)
        return true
    }
}
