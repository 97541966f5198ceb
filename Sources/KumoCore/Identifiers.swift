#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Request ids as AWS formats them: a lower-case UUID.
public enum RequestID {
    public static func make() -> String { UUID().uuidString.lowercased() }

    /// S3's `x-amz-id-2`: an opaque base64 token.
    public static func extended() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(48)
        for _ in 0..<6 { withUnsafeBytes(of: rng.next() as UInt64) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }
}

/// Resource ids in AWS's formats.
public enum ResourceID {
    private static let hex = Array("0123456789abcdef")
    private static let upperAlnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    private static let alnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// EC2-style ids: `i-0123456789abcdef0` (`prefix` + 17 hex digits).
    public static func ec2(_ prefix: String, length: Int = 17) -> String {
        prefix + "-" + String((0..<length).map { _ in hex.randomElement()! })
    }

    /// IAM-style unique ids and access keys: `AKIA` + 16 upper-case base32 characters.
    public static func iam(_ prefix: String, length: Int = 16) -> String {
        prefix + String((0..<length).map { _ in upperAlnum.randomElement()! })
    }

    /// A random token of letters and digits (secret keys, session tokens).
    public static func token(length: Int) -> String {
        String((0..<length).map { _ in alnum.randomElement()! })
    }
}

/// Amazon Resource Names.
public struct ARN: Sendable, Hashable, CustomStringConvertible {
    public var partition: String
    public var service: String
    public var region: String
    public var accountId: String
    public var resource: String

    public init(partition: String = "aws", service: String, region: String, accountId: String, resource: String) {
        self.partition = partition
        self.service = service
        self.region = region
        self.accountId = accountId
        self.resource = resource
    }

    /// Parses `arn:partition:service:region:account:resource`; `nil` when it is not an ARN.
    public init?(_ string: String) {
        let parts = string.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        self.init(
            partition: String(parts[1]), service: String(parts[2]), region: String(parts[3]),
            accountId: String(parts[4]), resource: String(parts[5])
        )
    }

    public var description: String { "arn:\(partition):\(service):\(region):\(accountId):\(resource)" }
}
