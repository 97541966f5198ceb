import KumoCore
import KumoProtocols
import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Edge {
    struct Caller {
        var accountId: String
        var identity: Identity?
    }

    /// Verifies the request's SigV4 signature (header or presigned URL) and returns who is calling.
    ///
    /// A streamed body is wrapped so that it is decoded (`aws-chunked`) and checked
    /// (chunk signatures, the signed payload hash) as the operation reads it.
    func authenticate(_ request: inout EdgeRequest, claim: SigV4.Claim?, service: String, model: ServiceModel) async throws -> Caller {
        let isS3 = service == "s3"
        guard let claim else {
            if isS3, let v2 = SigV2.claim(query: Self.queryItems(request)) {
                return try await authenticateSigV2(&request, claim: v2)
            }
            if isS3 || !configuration.verifySignatures {
                request.bodyStream = try request.bodyStream.map { try decodedStream($0, request: request, signing: nil) }
                return Caller(accountId: configuration.accountId, identity: nil)
            }
            throw AWSError.missingAuthenticationToken()
        }
        guard configuration.verifySignatures else {
            request.bodyStream = try request.bodyStream.map { try decodedStream($0, request: request, signing: nil) }
            let key = claim.accessKeyId
            let account = key.count == 12 && key.allSatisfy(\.isNumber) ? key : nil
            if let known = try await credentials.identity(forAccessKey: key) {
                return Caller(accountId: account ?? known.accountId, identity: known)
            }
            let accountId = account ?? configuration.accountId
            return Caller(
                accountId: accountId,
                identity: Identity(accessKeyId: key, secretAccessKey: "", accountId: accountId, kind: .root, name: "root"))
        }
        guard let identity = try await credentials.identity(forAccessKey: claim.accessKeyId) else {
            throw isS3
                ? AWSError(
                    code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.",
                    status: 403, fields: [.init("AWSAccessKeyId", claim.accessKeyId)])
                : AWSError.invalidClientTokenId()
        }
        guard let date = SigV4.requestDate(claim) else {
            throw AWSError.incompleteSignature("Date must be in ISO-8601 'basic format'. Got '\(claim.amzDate)'.")
        }
        let now = clock.now
        if claim.isPresigned {
            let expires = claim.expires ?? 0
            guard expires > 0, expires <= 604_800 else {
                throw AWSError(
                    code: "AuthorizationQueryParametersError",
                    message: "X-Amz-Expires must be less than a week (in seconds) that is 604800")
            }
            if now.timeIntervalSince(date) > Double(expires) {
                throw AWSError(code: "AccessDenied", message: "Request has expired", status: 403)
            }
            if date.timeIntervalSince(now) > configuration.maxClockSkewSeconds {
                throw AWSError(code: "AccessDenied", message: "Request is not valid yet", status: 403)
            }
        } else if abs(now.timeIntervalSince(date)) > configuration.maxClockSkewSeconds {
            throw isS3
                ? AWSError.requestTimeTooSkewed("The difference between the request time and the current time is too large.")
                : AWSError.requestTimeTooSkewed(
                    "Signature expired: \(claim.amzDate) is now earlier than \(Timestamp.amzDate(now.addingTimeInterval(-configuration.maxClockSkewSeconds))) (\(Timestamp.amzDate(now)) - 15 min.)")
        }
        var payloadHashes: [String] = []
        if request.bodyStream != nil {
            // The body has not arrived: sign with what the client declared, check the bytes as they pass.
            guard let declared = request.header("x-amz-content-sha256") ?? (claim.isPresigned ? SigV4.unsignedPayload : nil) else {
                throw AWSError(code: "InvalidRequest", message: "Missing required header for this request: x-amz-content-sha256")
            }
            payloadHashes = [declared]
        } else if let declared = request.header("x-amz-content-sha256") {
            payloadHashes = [declared]
            if declared.count == 64, declared.allSatisfy(\.isHexDigit), Hashing.sha256Hex(request.body) != declared.lowercased() {
                throw AWSError(
                    code: "XAmzContentSHA256Mismatch",
                    message: "The provided 'x-amz-content-sha256' header does not match what was computed.")
            }
        } else if claim.isPresigned {
            // Presigned URLs sign UNSIGNED-PAYLOAD (botocore, all services); some signers hash the empty body.
            payloadHashes = [SigV4.unsignedPayload] + (isS3 ? [] : [Hashing.sha256Hex(request.body)])
        } else {
            payloadHashes = [Hashing.sha256Hex(request.body)]
        }
        let key = signingKeys.key(secret: identity.secretAccessKey, date: claim.scopeDate, region: claim.region, service: claim.service)
        var canonical: [UInt8] = []
        var toSign: [UInt8] = []
        var matched = false
        let given = claim.signature.asciiLowercased
        for payloadHash in payloadHashes where !matched {
            canonical = SigV4.canonicalRequestBytes(
                method: request.method, rawPath: request.rawPath, rawQuery: request.rawQuery, headers: request.headers,
                signedHeaders: claim.signedHeaders, payloadHash: payloadHash, normalizePath: !isS3, presigned: claim.isPresigned)
            toSign = SigV4.stringToSignBytes(amzDate: claim.amzDate, scope: claim.scope, canonicalRequest: canonical)
            matched = SigV4.constantTimeEquals(SigV4.signature(key: key, stringToSign: toSign), given)
        }
        guard matched else {
            let canonical = String(decoding: canonical, as: UTF8.self)
            let toSign = String(decoding: toSign, as: UTF8.self)
            logger.debug("signature mismatch", metadata: ["canonicalRequest": "\(canonical)", "stringToSign": "\(toSign)"])
            if isS3 {
                throw AWSError(
                    code: "SignatureDoesNotMatch",
                    message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                    status: 403, fields: [.init("AWSAccessKeyId", claim.accessKeyId), .init("StringToSign", toSign), .init("CanonicalRequest", canonical)])
            }
            throw AWSError.signatureDoesNotMatch()
        }
        if let stream = request.bodyStream {
            let signing = AWSChunkedDecoder.Signing(key: key, amzDate: claim.amzDate, scope: claim.scope, seed: given)
            request.bodyStream = try decodedStream(stream, request: request, signing: signing)
        }
        if let token = identity.sessionToken {
            guard claim.securityToken == token else { throw AWSError.invalidClientTokenId() }
            if let exp = identity.expiration, exp < now { throw AWSError.expiredToken() }
        }
        return Caller(accountId: identity.accountId, identity: identity)
    }

    static func queryItems(_ request: EdgeRequest) -> [(name: String, value: String)] {
        FormEncoding.decode(Substring(request.rawQuery)).map { (name: $0.0, value: $0.1) }
    }

    /// S3's legacy presigned URLs (HMAC-SHA1 over method, expiry and resource).
    func authenticateSigV2(_ request: inout EdgeRequest, claim: SigV2.Claim) async throws -> Caller {
        request.bodyStream = try request.bodyStream.map { try decodedStream($0, request: request, signing: nil) }
        guard let identity = try await credentials.identity(forAccessKey: claim.accessKeyId) else {
            throw AWSError(
                code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.", status: 403,
                fields: [.init("AWSAccessKeyId", claim.accessKeyId)])
        }
        guard configuration.verifySignatures else { return Caller(accountId: identity.accountId, identity: identity) }
        if clock.now.timeIntervalSince1970 > Double(claim.expires) {
            throw AWSError(code: "AccessDenied", message: "Request has expired", status: 403)
        }
        let host = hostName(request)
        let bucket = s3VirtualHostBucket(host)
        let path = bucket.map { "/" + $0 + (request.rawPath == "/" ? "/" : request.rawPath) } ?? request.rawPath
        let toSign = SigV2.stringToSign(
            method: request.method, resourcePath: path, query: Self.queryItems(request), headers: request.headers, expires: claim.expires)
        guard SigV4.constantTimeEquals(SigV2.signature(secret: identity.secretAccessKey, stringToSign: toSign), claim.signature) else {
            throw AWSError(
                code: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                status: 403, fields: [.init("AWSAccessKeyId", claim.accessKeyId), .init("StringToSign", toSign)])
        }
        if let token = identity.sessionToken {
            guard request.header("x-amz-security-token") ?? Self.queryItems(request).first(where: { $0.name == "x-amz-security-token" })?.value == token
            else { throw AWSError.invalidClientTokenId() }
        }
        return Caller(accountId: identity.accountId, identity: identity)
    }
}
