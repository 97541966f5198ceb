import KumoCore
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension SigV4 {
    /// Signs an outgoing request the way an AWS client does (Authorization header,
    /// `x-amz-date`, `x-amz-content-sha256`): used where Kumo itself calls an AWS API,
    /// as CloudFront does when it fetches from an S3 origin with origin access control.
    ///
    /// `headers` must include `Host`; every header given is signed. Returns the headers to add.
    public static func sign(
        method: String, rawPath: String, rawQuery: String, headers: [(name: String, value: String)], payload: [UInt8],
        accessKeyId: String, secret: String, region: String, service: String, date: Date
    ) -> [(name: String, value: String)] {
        let amzDate = Timestamp.amzDate(date)
        let scopeDate = String(amzDate.prefix(8))
        let payloadHash = Hashing.sha256Hex(payload)
        let all = headers + [("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash)]
        let signed = Set(all.map { $0.name.lowercased() }).sorted()
        let canonical = canonicalRequest(
            method: method, rawPath: rawPath, rawQuery: rawQuery, headers: all, signedHeaders: signed, payloadHash: payloadHash,
            normalizePath: service != "s3", presigned: false)
        let scope = "\(scopeDate)/\(region)/\(service)/aws4_request"
        let key = signingKey(secret: secret, date: scopeDate, region: region, service: service)
        let signature = signature(key: key, stringToSign: stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical))
        return [
            ("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash),
            ("Authorization", "\(algorithm) Credential=\(accessKeyId)/\(scope), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)"),
        ]
    }
}
