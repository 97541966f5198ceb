import KumoCore
import KumoProtocols
import NIOCore
import Testing
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@testable import KumoS3

@Suite struct ChecksumTests {
    static let check = Array("123456789".utf8)

    @Test(arguments: [
        (ChecksumAlgorithm.crc32, [0xCB, 0xF4, 0x39, 0x26] as [UInt8]),
        (.crc32c, [0xE3, 0x06, 0x92, 0x83]),
        (.crc64nvme, [0xAE, 0x8B, 0x14, 0x86, 0x0A, 0x79, 0x98, 0x88]),
    ])
    func standardCheckValues(_ algorithm: ChecksumAlgorithm, _ expected: [UInt8]) {
        var h = ChecksumHasher(algorithm)
        h.update(Self.check)
        #expect(h.digest() == expected)
    }

    @Test func chunkingDoesNotChangeTheResult() {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for algorithm in ChecksumAlgorithm.allCases {
            var whole = ChecksumHasher(algorithm)
            whole.update(data)
            var parts = ChecksumHasher(algorithm)
            var i = 0
            for size in [1, 7, 8, 9, 1000, 3] + Array(repeating: 997, count: 9) where i < data.count {
                let end = min(i + size, data.count)
                parts.update(Array(data[i..<end]))
                i = end
            }
            parts.update(Array(data[i...]))
            #expect(whole.base64() == parts.base64(), "\(algorithm)")
        }
    }
}

@Suite struct AWSChunkedTests {
    func decode(_ body: String, feedSize: Int) async throws -> (String, [(name: String, value: String)]) {
        var decoder = AWSChunkedDecoder(signing: nil)
        var out: [UInt8] = []
        let bytes = Array(body.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(i + feedSize, bytes.count)
            try await decoder.feed(ByteBuffer(bytes: bytes[i..<end])) { out += $0.readableBytesView }
            i = end
        }
        try decoder.finish()
        return (String(decoding: out, as: UTF8.self), decoder.trailers)
    }

    @Test(arguments: [1, 2, 5, 1000])
    func unsignedChunksWithTrailer(feedSize: Int) async throws {
        let body = "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
        let (data, trailers) = try await decode(body, feedSize: feedSize)
        #expect(data == "hello world")
        #expect(trailers.map(\.name) == ["x-amz-checksum-crc32"])
    }

    @Test func malformedFramingIsRejected() async {
        for body in ["zz\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n", "5\r\nhel"] {
            await #expect(throws: AWSError.self) { _ = try await decode(body, feedSize: 3) }
        }
    }
}

@Suite struct S3RuleTests {
    @Test func bucketNames() {
        for good in ["abc", "my-bucket", "a.b.c", "x1-2.3"] { #expect(S3.isValidBucketName(good), "\(good)") }
        for bad in ["ab", "Abc", "-abc", "abc-", "a..b", "a.-b", "192.168.0.1", "xn--abc", "abc-s3alias", String(repeating: "a", count: 64), "a_b"] {
            #expect(!S3.isValidBucketName(bad), "\(bad)")
        }
    }

    @Test func globsAndAddressBlocks() {
        #expect(Wildcard.matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y"))
        #expect(Wildcard.matches("s3:Get*", "s3:GetObject"))
        #expect(!Wildcard.matches("s3:Get?", "s3:GetObject"))
        #expect(Wildcard.matches("a*b*c", "aXXbYYc"))
        #expect(!Wildcard.matches("a*b*c", "aXXbYY"))
        #expect(CIDR("10.0.0.0/8")!.contains("10.200.1.1"))
        #expect(!CIDR("10.0.0.0/8")!.contains("11.0.0.1"))
        #expect(CIDR("::1/128")!.contains("::1"))
        #expect(!CIDR("192.168.1.0/24")!.contains("::1"))
    }

    @Test func ranges() throws {
        #expect(try S3.parseRange("bytes=0-9", size: 100)! == (0, 10))
        #expect(try S3.parseRange("bytes=90-", size: 100)! == (90, 10))
        #expect(try S3.parseRange("bytes=-10", size: 100)! == (90, 10))
        #expect(try S3.parseRange("bytes=95-200", size: 100)! == (95, 5))
        #expect(try S3.parseRange("bytes=0-1,5-6", size: 100) == nil)
        #expect(try S3.parseRange("items=0-1", size: 100) == nil)
        #expect(throws: AWSError.self) { try S3.parseRange("bytes=100-", size: 100) }
    }

    @Test func policyEvaluation() throws {
        let policy = try BucketPolicy(
            text: """
                {"Statement": [
                  {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/public/*"},
                  {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]},
                  {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringLike": {"aws:PrincipalArn": "*:user/blocked"}}}
                ]}
                """, bucket: "b")
        let anonymous = PolicyPrincipal(accountId: nil, arn: nil)
        let partner = PolicyPrincipal(accountId: "111122223333", arn: "arn:aws:iam::111122223333:user/alice")
        let blocked = PolicyPrincipal(accountId: "111122223333", arn: "arn:aws:iam::111122223333:user/blocked")
        let ctx: [String: String] = ["aws:SecureTransport": "false"]
        #expect(policy.evaluate(principal: anonymous, action: "s3:GetObject", resource: "arn:aws:s3:::b/public/x", context: ctx) == .allow)
        #expect(policy.evaluate(principal: anonymous, action: "s3:GetObject", resource: "arn:aws:s3:::b/private", context: ctx) == .none)
        #expect(policy.evaluate(principal: partner, action: "s3:PutObject", resource: "arn:aws:s3:::b/k", context: ctx) == .allow)
        var blockedCtx = ctx
        blockedCtx["aws:PrincipalArn"] = blocked.arn
        #expect(policy.evaluate(principal: blocked, action: "s3:GetObject", resource: "arn:aws:s3:::b/k", context: blockedCtx) == .deny)
        #expect(policy.isPublic)
        #expect(throws: AWSError.self) {
            try BucketPolicy(text: #"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ec2:*", "Resource": "*"}]}"#, bucket: "b")
        }
        #expect(throws: AWSError.self) {
            try BucketPolicy(text: #"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::other/*"}]}"#, bucket: "b")
        }
    }

    @Test func websiteHosts() {
        #expect(S3Website.bucket(host: "site.s3-website.localhost", suffix: "localhost") == "site")
        #expect(S3Website.bucket(host: "my.site.s3-website-eu-west-1.localhost", suffix: "localhost") == "my.site")
        #expect(S3Website.bucket(host: "site.s3-website.us-east-1.localhost", suffix: "localhost") == "site")
        #expect(S3Website.bucket(host: "site.s3.localhost", suffix: "localhost") == nil)
        #expect(S3Website.bucket(host: "s3-website.localhost", suffix: "localhost") == nil)
    }

    @Test func storedValuesRoundTrip() throws {
        let value: ShapeValue = [
            "IndexDocument": ["Suffix": "index.html"], "Rules": [["Days": 3, "On": true, "Ratio": .double(0.5)]],
            "Tags": .map(["a": "1"]), "When": .timestamp(.init(timeIntervalSince1970: 1_700_000_000)), "Raw": .blob([1, 2, 3]),
        ]
        let again = ShapeValue(storageJSON: try JSONValue.parse(value.storageJSON.serialized()))
        #expect(again == value)
    }
}
