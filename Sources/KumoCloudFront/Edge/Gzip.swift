import CZlib
import KumoProtocols
import NIOCore

/// Gzip compression for the edge (CloudFront compresses what viewers accept when the
/// behavior says Compress).
enum Gzip {
    /// The bytes in gzip format, or nil if zlib failed.
    static func compress(_ input: ByteBuffer, level: Int32 = 6) -> ByteBuffer? {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.readableBytes))) + 32
        var output = ByteBuffer()
        var finished = false
        input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(target.count)
                // The output buffer holds deflateBound bytes, so one call finishes the stream.
                finished = deflate(&stream, Z_FINISH) == Z_STREAM_END
                return target.count - Int(stream.avail_out)
            }
        }
        return finished ? output : nil
    }

    /// Content types CloudFront compresses.
    static func isCompressible(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingSpaces.lowercased() else { return false }
        if type.hasPrefix("text/") { return true }
        return [
            "application/javascript", "application/x-javascript", "application/json", "application/xml", "application/xhtml+xml",
            "application/rss+xml", "application/atom+xml", "application/ld+json", "application/manifest+json", "application/wasm",
            "image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "font/ttf", "font/otf", "application/vnd.ms-fontobject",
            "application/x-font-ttf", "application/x-font-opentype",
        ].contains(type)
    }

    /// Whether the viewer's `Accept-Encoding` allows gzip.
    static func accepted(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { part in
            let fields = part.split(separator: ";")
            guard fields.first?.trimmingSpaces.lowercased() == "gzip" else { return false }
            return !fields.dropFirst().contains { $0.trimmingSpaces.replacing(" ", with: "") == "q=0" }
        }
    }
}
