public import KumoCore
public import NIOCore
import Crypto

/// Decodes an `aws-chunked` body (`Content-Encoding: aws-chunked`), the framing
/// SDKs use to sign an upload chunk by chunk (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`)
/// or to send checksums after the data (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`):
///
///     <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
///     [<trailer>:<value>\r\n ... [x-amz-trailer-signature:<sig>\r\n]]\r\n
///
/// Signed chunks are verified as they arrive; each signature chains from the one
/// before, seeded with the request's own signature.
public struct AWSChunkedDecoder {
    public struct Signing: Sendable {
        public var key: Hashing.PreparedHMAC
        public var amzDate: String
        public var scope: String
        /// The request's signature, then each chunk's.
        public var previous: String

        public init(key: Hashing.PreparedHMAC, amzDate: String, scope: String, seed: String) {
            self.key = key
            self.amzDate = amzDate
            self.scope = scope
            self.previous = seed
        }
    }

    enum State {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailer
        case done
    }

    static let emptyHash = Hashing.sha256Hex([UInt8]())
    static let maxLine = 8 * 1024

    var state = State.size
    var pending = ByteBuffer()
    var signing: Signing?
    let trailerSigned: Bool
    var chunkHash = SHA256()
    var chunkSignature: String?
    var lastChunk = false
    public private(set) var decodedLength: Int64 = 0
    public private(set) var trailers: [(name: String, value: String)] = []
    var trailerSignature: String?

    /// - Parameters:
    ///   - signing: set for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: every chunk must carry a valid signature.
    ///   - trailerSigned: the trailer carries `x-amz-trailer-signature` (the signed `-TRAILER` variant).
    public init(signing: Signing?, trailerSigned: Bool = false) {
        self.signing = signing
        self.trailerSigned = trailerSigned
    }

    /// Decodes what has arrived so far, handing decoded data to `emit`.
    public mutating func feed(_ buffer: ByteBuffer, emit: (ByteBuffer) async throws -> Void) async throws {
        var buffer = buffer
        pending.writeBuffer(&buffer)
        while true {
            switch state {
            case .size:
                guard let line = try readLine() else { return pendingCompact() }
                try startChunk(line)
            case .data(let remaining):
                let n = min(remaining, pending.readableBytes)
                guard n > 0 else { return pendingCompact() }
                let slice = pending.readSlice(length: n)!
                if signing != nil { slice.withUnsafeReadableBytes { chunkHash.update(bufferPointer: $0) } }
                decodedLength += Int64(n)
                try await emit(slice)
                state = remaining == n ? .dataEnd : .data(remaining: remaining - n)
            case .dataEnd:
                guard pending.readableBytes >= 2 else { return pendingCompact() }
                guard pending.readString(length: 2) == "\r\n" else { throw Self.malformed() }
                try endChunk()
                state = .size
            case .trailer:
                guard let line = try readLine() else { return pendingCompact() }
                if line.isEmpty {
                    try verifyTrailer()
                    state = .done
                } else {
                    guard let colon = line.firstIndex(of: ":") else { throw Self.malformed() }
                    let name = String(line[..<colon]).trimmingSpaces.lowercased()
                    let value = String(line[line.index(after: colon)...]).trimmingSpaces
                    if name == "x-amz-trailer-signature" { trailerSignature = value } else { trailers.append((name, value)) }
                }
            case .done:
                guard pending.readableBytes == 0 || pending.readableBytesView.allSatisfy({ $0 == 13 || $0 == 10 }) else {
                    throw Self.malformed()
                }
                pending.clear()
                return
            }
        }
    }

    /// Checks the body ended where the framing says it must.
    public func finish() throws {
        switch state {
        case .done: return
        case .trailer where !trailerSigned && pending.readableBytes == 0 && trailers.isEmpty:
            // Some encoders end with the zero chunk and no blank line after it.
            return
        default:
            throw AWSError(
                code: "IncompleteBody", message: "The request body terminated unexpectedly", status: 400)
        }
    }

    mutating func pendingCompact() {
        if pending.readerIndex > 64 * 1024 { pending.discardReadBytes() }
    }

    mutating func readLine() throws -> String? {
        let view = pending.readableBytesView
        guard let cr = view.firstIndex(of: 13) else {
            if view.count > Self.maxLine { throw Self.malformed() }
            return nil
        }
        guard cr + 1 < view.endIndex else { return nil }
        guard view[cr + 1] == 10 else { throw Self.malformed() }
        let length = cr - view.startIndex
        let line = pending.readString(length: length)!
        pending.moveReaderIndex(forwardBy: 2)
        return line
    }

    mutating func startChunk(_ line: String) throws {
        let parts = line.split(separator: ";", maxSplits: 1)
        guard let sizeText = parts.first, let size = Int(String(sizeText).trimmingSpaces, radix: 16), size >= 0 else {
            throw Self.malformed()
        }
        chunkSignature = nil
        if parts.count > 1 {
            let ext = String(parts[1]).trimmingSpaces
            if ext.hasPrefix("chunk-signature=") { chunkSignature = String(ext.dropFirst("chunk-signature=".count)) }
        }
        if signing != nil && chunkSignature == nil {
            throw AWSError(code: "SignatureDoesNotMatch", message: "A chunk of the body was sent without its signature.", status: 403)
        }
        chunkHash = SHA256()
        if size == 0 {
            lastChunk = true
            try endChunk()
            state = .trailer
        } else {
            state = .data(remaining: size)
        }
    }

    mutating func endChunk() throws {
        guard var signing else { return }
        let toSign = [
            "AWS4-HMAC-SHA256-PAYLOAD", signing.amzDate, signing.scope, signing.previous, Self.emptyHash,
            Hashing.hex(chunkHash.finalize()),
        ].joined(separator: "\n")
        let expected = SigV4.signature(key: signing.key, stringToSign: Array(toSign.utf8))
        guard let given = chunkSignature, SigV4.constantTimeEquals(expected, given.lowercased()) else {
            throw AWSError(
                code: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                status: 403)
        }
        signing.previous = expected
        self.signing = signing
    }

    func verifyTrailer() throws {
        guard trailerSigned, let signing else { return }
        let canonical = trailers.map { "\($0.name):\($0.value)\n" }.joined()
        let toSign = [
            "AWS4-HMAC-SHA256-TRAILER", signing.amzDate, signing.scope, signing.previous,
            Hashing.sha256Hex(Array(canonical.utf8)),
        ].joined(separator: "\n")
        let expected = SigV4.signature(key: signing.key, stringToSign: Array(toSign.utf8))
        guard let given = trailerSignature, SigV4.constantTimeEquals(expected, given.lowercased()) else {
            throw AWSError(
                code: "SignatureDoesNotMatch",
                message: "The trailer signature we calculated does not match the signature you provided.", status: 403)
        }
    }

    static func malformed() -> AWSError {
        AWSError(code: "InvalidRequest", message: "The aws-chunked body of the request is malformed.", status: 400)
    }
}

extension ByteStream {
    /// The decoded data of an `aws-chunked` body; trailers land in `trailers`.
    public func awsChunkDecoded(signing: AWSChunkedDecoder.Signing?, trailerSigned: Bool, decodedLength: Int64?) -> ByteStream {
        let trailers = self.trailers
        return through(length: decodedLength) { upstream, sink in
            var decoder = AWSChunkedDecoder(signing: signing, trailerSigned: trailerSigned)
            try await upstream.forEach { buffer in try await decoder.feed(buffer, emit: sink) }
            try decoder.finish()
            if let decodedLength, decoder.decodedLength != decodedLength {
                throw AWSError(
                    code: "IncompleteBody",
                    message: "You did not provide the number of bytes specified by the x-amz-decoded-content-length header", status: 400)
            }
            for t in decoder.trailers { trailers.append(name: t.name, value: t.value) }
        }
    }

    /// The same bytes, checked against the SHA-256 the client signed once the last one has passed.
    public func verifyingSHA256(_ expectedHex: String) -> ByteStream {
        let expected = expectedHex.lowercased()
        return through(length: length) { upstream, sink in
            var hash = SHA256()
            try await upstream.forEach { buffer in
                buffer.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
                try await sink(buffer)
            }
            guard Hashing.hex(hash.finalize()) == expected else {
                throw AWSError(
                    code: "XAmzContentSHA256Mismatch",
                    message: "The provided 'x-amz-content-sha256' header does not match what was computed.")
            }
        }
    }
}
