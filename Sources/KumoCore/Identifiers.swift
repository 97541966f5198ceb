#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Cheap randomness for identifiers that must be unique but are not secrets (request ids,
/// resource ids): SplitMix64 over an atomic counter seeded once from the system generator.
/// The system generator costs a `getrandom` call per 8 bytes, which showed in profiles.
public enum UniqueRandom {
    private static let state = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    public static func next() -> UInt64 {
        var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` characters drawn uniformly from `alphabet` (2 to 64 ASCII symbols).
    static func characters(_ count: Int, from alphabet: [UInt8]) -> String {
        let width = UInt64(64 - (alphabet.count - 1).leadingZeroBitCount)
        let mask: UInt64 = (1 << width) - 1
        return String(unsafeUninitializedCapacity: count) { out in
            var bits: UInt64 = 0
            var left: UInt64 = 0
            var made = 0
            while made < count {
                if left < width {
                    bits = next()
                    left = 64
                }
                let index = Int(bits & mask)
                bits >>= width
                left -= width
                if index < alphabet.count {
                    out[made] = alphabet[index]
                    made += 1
                }
            }
            return count
        }
    }
}

/// Request ids as AWS formats them: a lower-case UUID.
public enum RequestID {
    public static func make() -> String {
        let a = UniqueRandom.next(), b = UniqueRandom.next()
        var bytes = (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? a : b) >> (8 * UInt64(i % 8))) }
        bytes[6] = bytes[6] & 0x0F | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3F | 0x80  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { out in
            let hex = ResourceID.hex
            var at = 0
            for (i, byte) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                out[at] = hex[Int(byte >> 4)]
                out[at + 1] = hex[Int(byte & 15)]
                at += 2
            }
            return at
        }
    }

    /// S3's `x-amz-id-2`: an opaque base64 token.
    public static func extended() -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(48)
        for _ in 0..<6 { withUnsafeBytes(of: UniqueRandom.next()) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }
}

/// Resource ids in AWS's formats.
public enum ResourceID {
    static let hex = Array("0123456789abcdef".utf8)
    private static let upperAlnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
    private static let alnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// EC2-style ids: `i-0123456789abcdef0` (`prefix` + 17 hex digits).
    public static func ec2(_ prefix: String, length: Int = 17) -> String {
        prefix + "-" + hex(length: length)
    }

    /// Lower-case hex digits (the ids inside load balancer ARNs, trace ids).
    public static func hex(length: Int) -> String { UniqueRandom.characters(length, from: hex) }

    /// IAM-style unique ids and access keys: `AKIA` + 16 upper-case base32 characters.
    public static func iam(_ prefix: String, length: Int = 16) -> String {
        prefix + UniqueRandom.characters(length, from: upperAlnum)
    }

    /// A unique opaque token of letters and digits that is not a secret (CloudFront's request ids).
    public static func opaque(length: Int) -> String {
        UniqueRandom.characters(length, from: alnum)
    }

    /// A random token of letters and digits (secret keys, session tokens).
    public static func token(length: Int) -> String {
        String(decoding: (0..<length).map { _ in alnum.randomElement()! }, as: UTF8.self)
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
