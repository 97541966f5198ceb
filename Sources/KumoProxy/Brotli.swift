import CBrotli
public import NIOCore

/// Brotli compression, for viewers that accept `br` where a cache policy enables it.
public enum Brotli {
    /// The bytes in Brotli format, or nil if the encoder failed. Quality 5 of 11 keeps a
    /// miss fast (objects up to 10 MB are compressed in the request) at a ratio near gzip -9.
    public static func compress(_ input: ByteBuffer, quality: Int32 = 5) -> ByteBuffer? {
        var output = ByteBuffer()
        var ok = false
        input.withUnsafeReadableBytes { source in
            let bound = BrotliEncoderMaxCompressedSize(source.count)
            guard bound > 0 else { return }
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                var size = target.count
                ok =
                    BrotliEncoderCompress(
                        quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, source.count,
                        source.bindMemory(to: UInt8.self).baseAddress, &size, target.bindMemory(to: UInt8.self).baseAddress) == BROTLI_TRUE
                return ok ? size : 0
            }
        }
        return ok ? output : nil
    }
}
