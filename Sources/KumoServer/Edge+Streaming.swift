import KumoCore
import KumoProtocols

extension Edge {
    /// What the edge reads off a request before its body: the query and the signature claim,
    /// parsed once for both the body decision and the operation.
    public struct Preamble: Sendable {
        let query: [(name: String, value: String)]
        let claim: Result<SigV4.Claim?, AWSError>
        /// The rest operation `streamsBody` matched (for the service and path `handle` resolves
        /// again the same way), so the request is matched against the routes once.
        var matchedRoute: RestMatch?
    }

    public func preamble(_ request: EdgeRequest) -> Preamble {
        let query = FormEncoding.decode(Substring(request.rawQuery)).map { (name: $0.0, value: $0.1) }
        return Preamble(query: query, claim: Result { () throws(AWSError) in try SigV4.claim(headers: request.headers, query: query) })
    }

    /// Whether the operation a request addresses takes its body as a stream (S3
    /// PutObject, UploadPart): then the edge must not read the body before
    /// dispatching, so a 5 GiB upload never sits in memory.
    public func streamsBody(_ request: EdgeRequest, preamble: inout Preamble) -> Bool {
        guard request.method == "PUT" || request.method == "POST" else { return false }
        let query = preamble.query
        let claim = try? preamble.claim.get()
        guard let (service, bucket) = resolveService(request, query: query, claim: claim),
            let model = try? registry.model(service),
            model.metadata.protocols.contains(.restXML) || model.metadata.protocols.contains(.restJSON)
        else { return false }
        var path = request.rawPath
        if let bucket { path = "/" + bucket + (path == "/" ? "" : path) }
        guard let matched = model.matchRoute(method: request.method, path: path, query: query, headers: request.headers) else { return false }
        preamble.matchedRoute = matched
        return model.streamsInput(matched.operation)
    }

    /// The body as the operation must see it: `aws-chunked` framing removed (chunk
    /// signatures verified when `signing` is given) and a signed SHA-256 checked.
    func decodedStream(_ stream: ByteStream, request: EdgeRequest, signing: AWSChunkedDecoder.Signing?) throws -> ByteStream {
        guard let declared = request.header("x-amz-content-sha256") else {
            // Nothing declared (a presigned URL's body): only a Content-Encoding can frame it.
            guard let encoding = request.header("Content-Encoding"), encoding.asciiLowercased.utf8Contains("aws-chunked") else { return stream }
            let decodedLength = request.header("x-amz-decoded-content-length").flatMap { Int64($0) }
            return stream.awsChunkDecoded(signing: nil, trailerSigned: false, decodedLength: decodedLength)
        }
        let encoding = (request.header("Content-Encoding") ?? "").asciiLowercased
        let decodedLength = request.header("x-amz-decoded-content-length").flatMap { Int64($0) }
        switch declared {
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
            return stream.awsChunkDecoded(
                signing: signing, trailerSigned: declared.hasSuffix("-TRAILER") && signing != nil, decodedLength: decodedLength)
        case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
            return stream.awsChunkDecoded(signing: nil, trailerSigned: false, decodedLength: decodedLength)
        case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
            throw AWSError(code: "NotImplemented", message: "SigV4a (ECDSA) streaming signatures are not supported by Kumo.", status: 501)
        default:
            if encoding.utf8Contains("aws-chunked") {
                return stream.awsChunkDecoded(signing: nil, trailerSigned: false, decodedLength: decodedLength)
            }
            if signing != nil, declared.count == 64, declared.allSatisfy(\.isHexDigit) {
                return stream.verifyingSHA256(declared)
            }
            return stream
        }
    }
}
