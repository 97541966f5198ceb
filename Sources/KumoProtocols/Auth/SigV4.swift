public import KumoCore
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// AWS Signature Version 4: parsing what a request claims and computing what
/// its signature must be.
///
/// The edge looks up the secret for the claimed access key and calls
/// `expectedSignature`; nothing here knows about identities or clocks.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// What a signed request claims: from the `Authorization` header or, for presigned URLs, the query.
    public struct Claim: Sendable, Equatable {
        public var accessKeyId: String
        /// `yyyymmdd` of the credential scope.
        public var scopeDate: String
        public var region: String
        public var service: String
        public var signedHeaders: [String]
        public var signature: String
        /// `X-Amz-Date` (or `Date`) of the request.
        public var amzDate: String
        public var isPresigned: Bool
        /// Presigned URLs: seconds the URL stays valid.
        public var expires: Int?
        public var securityToken: String?

        public var scope: String { "\(scopeDate)/\(region)/\(service)/aws4_request" }
    }

    /// The claim a request makes, nil for an anonymous request.
    public static func claim(
        headers: [(name: String, value: String)], query: [(name: String, value: String)]
    ) throws(AWSError) -> Claim? {
        func header(_ n: String) -> String? { headers.first { $0.name.caseInsensitiveEquals(n) }?.value }
        func param(_ n: String) -> String? { query.first { $0.name == n }?.value }
        if let auth = header("Authorization")?.trimmingSpaces {
            guard auth.hasPrefix(algorithm + " ") else {
                if auth.hasPrefix("AWS ") {
                    throw AWSError(
                        code: "InvalidRequest",
                        message: "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
                }
                throw AWSError.incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
            }
            var fields: [String: String] = [:]
            let list = auth[auth.utf8.index(auth.startIndex, offsetBy: algorithm.utf8.count + 1)...]
            for part in list.asciiSplit(UInt8(ascii: ",")) {
                let field = part.asciiTrimmed
                guard let eq = field.asciiIndex(of: UInt8(ascii: "=")) else { continue }
                fields[String(field[..<eq])] = String(field[field.utf8.index(after: eq)...])
            }
            guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
                var missing: [String] = []
                if fields["Credential"] == nil { missing.append("Credential") }
                if fields["SignedHeaders"] == nil { missing.append("SignedHeaders") }
                if fields["Signature"] == nil { missing.append("Signature") }
                throw AWSError.incompleteSignature(
                    "Authorization header requires '\(missing.joined(separator: "', '"))' parameter. Authorization=\(auth)")
            }
            guard let date = header("X-Amz-Date") ?? header("Date") else {
                throw AWSError.incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=\(auth)")
            }
            return try make(
                credential: credential, signedHeaders: signed, signature: signature, amzDate: date, presigned: false,
                expires: nil, token: header("X-Amz-Security-Token"))
        }
        if let alg = param("X-Amz-Algorithm") {
            guard alg == algorithm else {
                throw AWSError(code: "AuthorizationQueryParametersError", message: "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
            }
            guard let credential = param("X-Amz-Credential"), let signed = param("X-Amz-SignedHeaders"),
                let signature = param("X-Amz-Signature"), let date = param("X-Amz-Date")
            else {
                throw AWSError(
                    code: "AuthorizationQueryParametersError",
                    message: "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
            }
            let expires = param("X-Amz-Expires").flatMap(Int.init)
            return try make(
                credential: credential, signedHeaders: signed, signature: signature, amzDate: date, presigned: true,
                expires: expires, token: param("X-Amz-Security-Token"))
        }
        return nil
    }

    static func make(
        credential: String, signedHeaders: String, signature: String, amzDate: String, presigned: Bool, expires: Int?,
        token: String?
    ) throws(AWSError) -> Claim {
        let parts = credential.asciiSplit(UInt8(ascii: "/"), omittingEmpty: false).map(String.init)
        guard parts.count == 5, parts[4] == "aws4_request", parts[1].count == 8 else {
            throw AWSError.incompleteSignature(
                "Credential should be scoped to a valid region, not '\(parts.count > 2 ? parts[2] : "")'. Credential=\(credential)")
        }
        return Claim(
            accessKeyId: parts[0], scopeDate: parts[1], region: parts[2], service: parts[3],
            signedHeaders: signedHeaders.asciiSplit(UInt8(ascii: ";")).map { $0.lowercased() }, signature: signature,
            amzDate: amzDate, isPresigned: presigned, expires: expires, securityToken: token)
    }

    /// The request's time, from `X-Amz-Date` (`20150830T123600Z`) or an HTTP `Date`.
    public static func requestDate(_ claim: Claim) -> Date? {
        Timestamp.parseISO8601(claim.amzDate) ?? Timestamp.parseHTTPDate(claim.amzDate)
    }

    /// The canonical request of SigV4's specification.
    ///
    /// - Parameters:
    ///   - rawPath: the path exactly as it appeared on the request line.
    ///   - rawQuery: the query string exactly as it appeared (without `?`).
    ///   - normalizePath: all services but S3 remove dot segments and encode the path again.
    public static func canonicalRequest(
        method: String, rawPath: String, rawQuery: String, headers: [(name: String, value: String)],
        signedHeaders: [String], payloadHash: String, normalizePath: Bool, presigned: Bool
    ) -> String {
        var lines: [String] = [method]
        lines.append(canonicalURI(rawPath, normalize: normalizePath))
        lines.append(canonicalQuery(rawQuery, dropSignature: presigned))
        for name in signedHeaders {
            let values = headers.filter { $0.name.caseInsensitiveEquals(name) }.map { canonicalHeaderValue($0.value) }
            lines.append(name + ":" + values.joined(separator: ","))
        }
        lines.append("")
        lines.append(signedHeaders.joined(separator: ";"))
        lines.append(payloadHash)
        return lines.joined(separator: "\n")
    }

    static func canonicalHeaderValue(_ value: String) -> String {
        var out = ""
        var lastSpace = false
        for c in value.trimmingSpaces {
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                if !lastSpace { out.append(" ") }
                lastSpace = true
            } else {
                out.append(c)
                lastSpace = false
            }
        }
        return out
    }

    static func canonicalURI(_ rawPath: String, normalize: Bool) -> String {
        let path = rawPath.isEmpty ? "/" : rawPath
        guard normalize else { return path }
        var out: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        for s in segments {
            if s == "." { continue }
            if s == ".." { _ = out.popLast(); continue }
            out.append(s)
        }
        var result = "/" + out.map { FormEncoding.escape(String($0)) }.joined(separator: "/")
        if path.hasSuffix("/") && !out.isEmpty { result += "/" }
        return result
    }

    static func canonicalQuery(_ rawQuery: String, dropSignature: Bool) -> String {
        guard !rawQuery.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for item in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = canonicalComponent(kv[0])
            let v = kv.count > 1 ? canonicalComponent(kv[1]) : ""
            if dropSignature && k == "X-Amz-Signature" { continue }
            pairs.append((k, v))
        }
        pairs.sort { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        return pairs.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
    }

    /// A query component in SigV4's encoding. Most clients already send exactly that
    /// (unreserved bytes, `%XX` in upper case for the rest), so it is checked before re-encoding.
    static func canonicalComponent(_ raw: Substring) -> String {
        let bytes = raw.utf8
        var i = bytes.startIndex
        var canonical = true
        func isUnreserved(_ b: UInt8) -> Bool {
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
        }
        func upperHex(_ b: UInt8) -> UInt8? {
            if b >= 0x30 && b <= 0x39 { return b - 0x30 }
            if b >= 0x41 && b <= 0x46 { return b - 0x41 + 10 }
            return nil
        }
        while i < bytes.endIndex && canonical {
            let b = bytes[i]
            if isUnreserved(b) {
                i = bytes.index(after: i)
            } else if b == 0x25, let j = bytes.index(i, offsetBy: 2, limitedBy: bytes.index(before: bytes.endIndex)),
                let hi = upperHex(bytes[bytes.index(after: i)]), let lo = upperHex(bytes[j]), !isUnreserved(hi << 4 | lo)
            {
                i = bytes.index(after: j)
            } else {
                canonical = false
            }
        }
        return canonical ? String(raw) : FormEncoding.escape(FormEncoding.unescape(raw, plus: false))
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope, Hashing.sha256Hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    public static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        let kDate = Hashing.hmacSHA256(key: Array(("AWS4" + secret).utf8), Array(date.utf8))
        let kRegion = Hashing.hmacSHA256(key: kDate, Array(region.utf8))
        let kService = Hashing.hmacSHA256(key: kRegion, Array(service.utf8))
        return Hashing.hmacSHA256(key: kService, Array("aws4_request".utf8))
    }

    public static func signature(key: [UInt8], stringToSign: String) -> String {
        Hashing.hex(Hashing.hmacSHA256(key: key, Array(stringToSign.utf8)))
    }

    /// Compares two signatures without leaking where they differ.
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
