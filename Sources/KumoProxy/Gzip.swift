import CZlib
public import NIOCore

/// Gzip compression: CloudFront compresses what viewers accept, and log files are delivered gzipped.
public enum Gzip {
    /// The bytes in gzip format, or nil if zlib failed.
    public static func compress(_ input: ByteBuffer, level: Int32 = 6) -> ByteBuffer? {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.readableBytes))) + 32
        var output = ByteBuffer()
        var finished = false
        _ = input.withUnsafeReadableBytes { source in
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
}
