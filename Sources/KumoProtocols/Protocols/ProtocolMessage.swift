/// An HTTP request as the wire protocols see it: already read, with the
/// routing path (virtual-hosted S3 requests have the bucket prepended).
public struct ProtocolRequest: Sendable {
    public var method: String
    /// The percent-encoded path used for routing.
    public var path: String
    /// Decoded query parameters in order.
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    /// The body, or empty when the operation streams it (the edge hands the stream to the operation).
    public var body: [UInt8]
    /// The body of an operation whose input streams (S3 PutObject, UploadPart), not read yet.
    public var bodyStream: ByteStream?
    /// The rest operation this request addresses and its URI labels, when already matched (the
    /// edge matched it to see whether the body streams); nil: not matched yet.
    public var matchedRoute: RestMatch?

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: [UInt8] = [], bodyStream: ByteStream? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.bodyStream = bodyStream
    }

    /// Splits a request target (`/a/b?x=1&y`) into path and decoded query.
    public init(method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let query = parts.count > 1 ? FormEncoding.decode(parts[1]).map { (name: $0.0, value: $0.1) } : []
        self.init(method: method, path: String(parts[0]), query: query, headers: headers, body: body)
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }
}

/// A response produced by a wire protocol's serializer.
public struct ProtocolResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// A body written as it is produced (an S3 object), instead of `body`.
    public var bodyStream: ByteStream?

    public init(status: Int = 200, headers: [(name: String, value: String)] = [], body: [UInt8] = [], bodyStream: ByteStream? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyStream = bodyStream
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }
}

extension String {
    /// ASCII case-insensitive comparison, for header names.
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        // Over the contiguous bytes: iterating the two views in step costs far more than the compare.
        var a = self, b = other
        return a.withUTF8 { x in
            b.withUTF8 { y in
                for i in 0..<x.count where x[i] != y[i] {
                    let lx = x[i] >= 65 && x[i] <= 90 ? x[i] + 32 : x[i]
                    let ly = y[i] >= 65 && y[i] <= 90 ? y[i] + 32 : y[i]
                    if lx != ly { return false }
                }
                return true
            }
        }
    }
}
