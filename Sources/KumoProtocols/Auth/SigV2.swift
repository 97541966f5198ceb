import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// S3's legacy query-string signatures (`?AWSAccessKeyId=&Expires=&Signature=`),
/// which boto3's `generate_presigned_url` still produces unless told to use SigV4.
public enum SigV2 {
    /// Sub-resources that are part of what is signed, as S3 lists them.
    static let subresources: Set = [
        "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy", "requestPayment",
        "restore", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
        "response-cache-control", "response-content-disposition", "response-content-encoding", "response-content-language",
        "response-content-type", "response-expires",
    ]

    public struct Claim: Sendable {
        public var accessKeyId: String
        public var signature: String
        public var expires: Int
    }

    public static func claim(query: [(name: String, value: String)]) -> Claim? {
        func param(_ n: String) -> String? { query.first { $0.name == n }?.value }
        guard let key = param("AWSAccessKeyId"), let signature = param("Signature"), let expires = param("Expires").flatMap({ Int($0) })
        else { return nil }
        return Claim(accessKeyId: key, signature: signature, expires: expires)
    }

    /// The string a presigned URL signs: method, Content-MD5, Content-Type, expiry, `x-amz-*` headers, resource.
    public static func stringToSign(
        method: String, resourcePath: String, query: [(name: String, value: String)], headers: [(name: String, value: String)],
        expires: Int
    ) -> String {
        func header(_ n: String) -> String { headers.first { $0.name.caseInsensitiveEquals(n) }?.value ?? "" }
        var amz: [String: [String]] = [:]
        for h in headers where h.name.lowercased().hasPrefix("x-amz-") {
            amz[h.name.lowercased(), default: []].append(h.value.trimmingSpaces)
        }
        let amzLines = amz.keys.sorted().map { "\($0):\(amz[$0]!.joined(separator: ","))\n" }.joined()
        let sub = query.filter { subresources.contains($0.name) }.sorted { $0.name < $1.name }
            .map { $0.value.isEmpty ? $0.name : "\($0.name)=\($0.value)" }
        let resource = resourcePath + (sub.isEmpty ? "" : "?" + sub.joined(separator: "&"))
        return "\(method)\n\(header("Content-MD5"))\n\(header("Content-Type"))\n\(expires)\n\(amzLines)\(resource)"
    }

    public static func signature(secret: String, stringToSign: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(stringToSign.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Data(mac).base64EncodedString()
    }
}
