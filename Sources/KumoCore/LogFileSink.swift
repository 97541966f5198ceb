/// Where services deliver log files: S3 buckets (CloudFront standard logs, load balancer
/// access logs). Delivery writes as the log delivery service, so it does not depend on the
/// bucket's policy, as AWS grants its log delivery group access when logging is set up.
public protocol LogFileSink: Sendable {
    /// The account that owns a bucket; nil when there is no such bucket.
    func bucketOwner(_ bucket: String) async -> String?
    /// Writes one log file as an object of the bucket.
    func deliver(bucket: String, key: String, body: [UInt8], contentType: String, contentEncoding: String?) async throws
}
