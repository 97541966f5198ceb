/// An HTTP `Range` header of one byte range, as S3 and CloudFront read it.
public enum ByteRange: Equatable, Sendable {
    /// Serve the whole body (no range, or a form these services ignore: several ranges, other units).
    case whole
    case bytes(start: Int64, length: Int64)
    /// 416: the range starts past the end.
    case unsatisfiable

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n` against a body of `size` bytes.
    public static func parse(_ header: String?, size: Int64) -> ByteRange {
        guard let header, header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let parts = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .whole }
        let first = parts[0].isEmpty ? nil : Int64(parts[0])
        let last = parts[1].isEmpty ? nil : Int64(parts[1])
        if !parts[0].isEmpty && first == nil || !parts[1].isEmpty && last == nil { return .whole }
        switch (first, last) {
        case (let a?, let b?):
            guard a <= b else { return .whole }
            guard a < size else { return .unsatisfiable }
            return .bytes(start: a, length: min(b, size - 1) - a + 1)
        case (let a?, nil):
            guard a < size else { return .unsatisfiable }
            return .bytes(start: a, length: size - a)
        case (nil, let n?):
            guard n > 0, size > 0 else { return .unsatisfiable }
            let length = min(n, size)
            return .bytes(start: size - length, length: length)
        default:
            return .whole
        }
    }
}
