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
            var credentialField: String?, signedField: String?, signatureField: String?
            let list = auth[auth.utf8.index(auth.startIndex, offsetBy: algorithm.utf8.count + 1)...]
            for part in list.asciiSplit(UInt8(ascii: ",")) {
                let field = part.asciiTrimmed
                guard let eq = field.asciiIndex(of: UInt8(ascii: "=")) else { continue }
                let value = String(field[field.utf8.index(after: eq)...])
                switch field[..<eq] {
                case "Credential": credentialField = value
                case "SignedHeaders": signedField = value
                case "Signature": signatureField = value
                default: continue
                }
            }
            guard let credential = credentialField, let signed = signedField, let signature = signatureField else {
                var missing: [String] = []
                if credentialField == nil { missing.append("Credential") }
                if signedField == nil { missing.append("SignedHeaders") }
                if signatureField == nil { missing.append("Signature") }
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
        guard parts.count == 5, parts[4] == "aws4_request", parts[1].utf8.count == 8 else {
            throw AWSError.incompleteSignature(
                "Credential should be scoped to a valid region, not '\(parts.count > 2 ? parts[2] : "")'. Credential=\(credential)")
        }
        return Claim(
            accessKeyId: parts[0], scopeDate: parts[1], region: parts[2], service: parts[3],
            signedHeaders: signedHeaders.asciiSplit(UInt8(ascii: ";")).map(\.asciiLowercased), signature: signature,
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
        String(
            decoding: canonicalRequestBytes(
                method: method, rawPath: rawPath, rawQuery: rawQuery, headers: headers, signedHeaders: signedHeaders,
                payloadHash: payloadHash, normalizePath: normalizePath, presigned: presigned),
            as: UTF8.self)
    }

    /// The canonical request as the bytes that are hashed (built without intermediate strings:
    /// the edge computes one for every signed request).
    public static func canonicalRequestBytes(
        method: String, rawPath: String, rawQuery: String, headers: [(name: String, value: String)],
        signedHeaders: [String], payloadHash: String, normalizePath: Bool, presigned: Bool
    ) -> [UInt8] {
        let newline = UInt8(ascii: "\n")
        var out: [UInt8] = []
        out.reserveCapacity(512)
        out += method.utf8
        out.append(newline)
        out += canonicalURI(rawPath, normalize: normalizePath).utf8
        out.append(newline)
        appendCanonicalQuery(rawQuery, dropSignature: presigned, to: &out)
        out.append(newline)
        for name in signedHeaders {
            out += name.utf8
            out.append(UInt8(ascii: ":"))
            var first = true
            for header in headers where header.name.caseInsensitiveEquals(name) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                appendCanonicalHeaderValue(header.value, to: &out)
            }
            out.append(newline)
        }
        out.append(newline)
        for (i, name) in signedHeaders.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ";")) }
            out += name.utf8
        }
        out.append(newline)
        out += payloadHash.utf8
        return out
    }

    /// A header value trimmed, each run of spaces, tabs and line breaks inside it made one space.
    static func appendCanonicalHeaderValue(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in appendCanonicalHeaderValue(bytes, to: &out) }
    }

    static func appendCanonicalHeaderValue(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var started = false
        var space = false
        for b in bytes {
            if Substring.isSpace(b) {
                space = started
            } else {
                if space { out.append(0x20) }
                out.append(b)
                started = true
                space = false
            }
        }
    }

    static func canonicalURI(_ rawPath: String, normalize: Bool) -> String {
        let path = rawPath.isEmpty ? "/" : rawPath
        guard normalize, !isNormalized(path) else { return path }
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

    /// Whether normalizing would give the path back unchanged: it starts with `/`, has only
    /// unreserved bytes, and no empty, `.` or `..` segment (an empty last one — a trailing `/` — is kept).
    static func isNormalized(_ path: String) -> Bool {
        guard path.utf8.first == UInt8(ascii: "/") else { return false }
        var length = 0
        var dots = 0
        for b in path.utf8.dropFirst() {
            if b == UInt8(ascii: "/") {
                if length == 0 || (dots == length && dots <= 2) { return false }
                length = 0
                dots = 0
            } else {
                guard isUnreserved(b) else { return false }
                length += 1
                if b == UInt8(ascii: ".") { dots += 1 }
            }
        }
        return !(length > 0 && dots == length && dots <= 2)
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
    }

    static func canonicalQuery(_ rawQuery: String, dropSignature: Bool) -> String {
        var out: [UInt8] = []
        appendCanonicalQuery(rawQuery, dropSignature: dropSignature, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The query's pairs in SigV4's encoding, sorted by name then value (byte order: every
    /// encoded component is ASCII), joined with `&`.
    static func appendCanonicalQuery(_ rawQuery: String, dropSignature: Bool, to out: inout [UInt8]) {
        guard !rawQuery.isEmpty else { return }
        var query = rawQuery
        query.withUTF8 { bytes in
            var pairs: [(name: [UInt8], value: [UInt8])] = []
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
                if end > start {
                    var eq = start
                    while eq < end && bytes[eq] != UInt8(ascii: "=") { eq += 1 }
                    let name = canonicalComponent(UnsafeBufferPointer(rebasing: bytes[start..<eq]))
                    let value = eq < end ? canonicalComponent(UnsafeBufferPointer(rebasing: bytes[(eq + 1)..<end])) : []
                    if !(dropSignature && name.elementsEqual("X-Amz-Signature".utf8)) { pairs.append((name, value)) }
                }
                start = end + 1
            }
            pairs.sort { a, b in
                a.name == b.name ? a.value.lexicographicallyPrecedes(b.value) : a.name.lexicographicallyPrecedes(b.name)
            }
            for (i, pair) in pairs.enumerated() {
                if i > 0 { out.append(UInt8(ascii: "&")) }
                out += pair.name
                out.append(UInt8(ascii: "="))
                out += pair.value
            }
        }
    }

    /// A query component in SigV4's encoding. Most clients already send exactly that
    /// (unreserved bytes, `%XX` in upper case for the rest), so it is checked before re-encoding.
    static func canonicalComponent(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        func upperHex(_ b: UInt8) -> UInt8? {
            if b >= 0x30 && b <= 0x39 { return b - 0x30 }
            if b >= 0x41 && b <= 0x46 { return b - 0x41 + 10 }
            return nil
        }
        var i = 0
        while i < raw.count {
            let b = raw[i]
            if isUnreserved(b) {
                i += 1
            } else if b == 0x25, i + 2 < raw.count, let hi = upperHex(raw[i + 1]), let lo = upperHex(raw[i + 2]), !isUnreserved(hi << 4 | lo) {
                i += 3
            } else {
                let text = Substring(decoding: raw, as: UTF8.self)
                return Array(FormEncoding.escape(FormEncoding.unescape(text, plus: false)).utf8)
            }
        }
        return Array(raw)
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        String(decoding: stringToSignBytes(amzDate: amzDate, scope: scope, canonicalRequest: Array(canonicalRequest.utf8)), as: UTF8.self)
    }

    public static func stringToSignBytes(amzDate: String, scope: String, canonicalRequest: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(algorithm.utf8.count + amzDate.utf8.count + scope.utf8.count + 67)
        out += algorithm.utf8
        out.append(UInt8(ascii: "\n"))
        out += amzDate.utf8
        out.append(UInt8(ascii: "\n"))
        out += scope.utf8
        out.append(UInt8(ascii: "\n"))
        Hashing.appendSHA256Hex(canonicalRequest, to: &out)
        return out
    }

    public static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        let kDate = Hashing.hmacSHA256(key: Array(("AWS4" + secret).utf8), Array(date.utf8))
        let kRegion = Hashing.hmacSHA256(key: kDate, Array(region.utf8))
        let kService = Hashing.hmacSHA256(key: kRegion, Array(service.utf8))
        return Hashing.hmacSHA256(key: kService, Array("aws4_request".utf8))
    }

    public static func signature(key: [UInt8], stringToSign: String) -> String {
        signature(key: Hashing.PreparedHMAC(key: key), stringToSign: Array(stringToSign.utf8))
    }

    public static func signature(key: Hashing.PreparedHMAC, stringToSign: [UInt8]) -> String {
        Hashing.hex(key.authenticationCode(stringToSign))
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
