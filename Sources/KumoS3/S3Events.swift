import KumoCore
import KumoProtocols
import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// S3 event notifications: after a write or delete commits, the bucket's queue
/// configurations that match the event and the key's prefix/suffix filters get
/// AWS's event JSON.
extension S3 {
    struct Event {
        var name: String  // "ObjectCreated:Put"
        var key: String
        var size: Int64?
        var etag: String?
        var versionId: String?
    }

    func publish(_ event: Event, bucket: String, context: RequestContext?) async {
        // The configuration comes with the bucket's cached settings: no read per write.
        guard let queues, let config = (try? await bucketAndAccess(bucket))?.1.notification else { return }
        for entry in config["QueueConfigurations"]?.list ?? [] {
            let events = (entry["Events"]?.list ?? []).compactMap(\.string)
            let full = "s3:" + event.name
            guard events.contains(where: { $0 == full || ($0.hasSuffix(":*") && full.hasPrefix($0.dropLast())) }) else { continue }
            var matches = true
            for rule in entry["Filter"]?["Key"]?["FilterRules"]?.list ?? [] {
                let value = rule["Value"]?.string ?? ""
                switch (rule["Name"]?.string ?? "").lowercased() {
                case "prefix": matches = matches && event.key.hasPrefix(value)
                case "suffix": matches = matches && event.key.hasSuffix(value)
                default: break
                }
            }
            guard matches, let arn = entry["QueueArn"]?.string else { continue }
            let body = Self.eventJSON(event, bucket: bucket, configurationId: entry["Id"]?.string ?? "", context: context, now: clock.now)
            do {
                _ = try await queues.deliver(to: arn, body: body)
            } catch {
                logger.warning("S3 event not delivered", metadata: ["queue": "\(arn)", "error": "\(error)"])
            }
        }
    }

    static func eventJSON(_ e: Event, bucket: String, configurationId: String, context: RequestContext?, now: Date) -> String {
        var object: [(String, JSONValue)] = [("key", .string(keyEncoded(e.key)))]
        if let size = e.size { object.append(("size", .number(String(size)))) }
        if let etag = e.etag { object.append(("eTag", .string(String(etag.filter { $0 != "\"" })))) }
        if let v = e.versionId, v != "null" { object.append(("versionId", .string(v))) }
        object.append(("sequencer", .string(String(UInt64(now.timeIntervalSince1970 * 1_000_000), radix: 16, uppercase: true))))
        let principal = context?.identity.map { "AWS:" + $0.userId } ?? "Anonymous"
        let record = JSONValue.object([
            ("eventVersion", .string("2.1")), ("eventSource", .string("aws:s3")),
            ("awsRegion", .string(context?.region ?? "us-east-1")), ("eventTime", .string(Timestamp.iso8601Millis(now))),
            ("eventName", .string(e.name)), ("userIdentity", .object([("principalId", .string(principal))])),
            ("requestParameters", .object([("sourceIPAddress", .string(context?.sourceAddress ?? "127.0.0.1"))])),
            ("responseElements", .object([("x-amz-request-id", .string(context?.requestId ?? RequestID.make())), ("x-amz-id-2", .string(RequestID.extended()))])),
            ("s3", .object([
                ("s3SchemaVersion", .string("1.0")), ("configurationId", .string(configurationId)),
                ("bucket", .object([
                    ("name", .string(bucket)), ("ownerIdentity", .object([("principalId", .string(context?.accountId ?? ""))])),
                    ("arn", .string("arn:aws:s3:::" + bucket)),
                ])),
                ("object", .object(object)),
            ])),
        ])
        return JSONValue.object([("Records", .array([record]))]).serialized()
    }

    static func testEventJSON(bucket: String, context: RequestContext, now: Date) -> String {
        JSONValue.object([
            ("Service", .string("Amazon S3")), ("Event", .string("s3:TestEvent")), ("Time", .string(Timestamp.iso8601Millis(now))),
            ("Bucket", .string(bucket)), ("RequestId", .string(context.requestId)), ("HostId", .string(RequestID.extended())),
        ]).serialized()
    }

    /// Keys in events are URL-encoded the way S3 does it (spaces as `+`).
    static func keyEncoded(_ key: String) -> String {
        var out = ""
        for b in key.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "/"), UInt8(ascii: "*"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: " "): out += "+"
            default: out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }
}
