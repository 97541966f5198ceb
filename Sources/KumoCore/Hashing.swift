public import Crypto
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Small helpers over swift-crypto for the digests AWS protocols use.
public enum Hashing {
    public static func sha256Hex(_ bytes: some DataProtocol) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// The lower-case hex SHA-256 of `bytes`, appended.
    public static func appendSHA256Hex(_ bytes: [UInt8], to out: inout [UInt8]) {
        appendHex(SHA256.hash(data: bytes), to: &out)
    }

    public static func md5Hex(_ bytes: some DataProtocol) -> String {
        hex(Insecure.MD5.hash(data: bytes))
    }

    public static func hmacSHA256(key: some ContiguousBytes, _ message: some DataProtocol) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Lower-case hex bytes joined by colons (certificate serials, key fingerprints).
    public static func colonHex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { hex([$0]) }.joined(separator: ":")
    }

    @inlinable
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        appendHex(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Lower-case hex digits of each byte, appended.
    @inlinable
    public static func appendHex(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        for b in bytes {
            out.append(hexDigit(b >> 4))
            out.append(hexDigit(b & 0x0f))
        }
    }

    @inlinable @usableFromInline
    static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }

    /// An HMAC-SHA256 key made ready once: the key's inner and outer blocks are hashed when it is
    /// made, and each message then only costs its own blocks. SigV4 signs every request of a day,
    /// and every chunk of a streamed upload, with one derived key.
    ///
    /// Immutable once made; each use works on a copy of the prepared state (copy-on-write), so one
    /// key serves any number of threads.
    public final class PreparedHMAC: @unchecked Sendable {
        private let prepared: HMAC<SHA256>

        public init(key: [UInt8]) {
            prepared = HMAC<SHA256>(key: SymmetricKey(data: key))
        }

        public func authenticationCode(_ message: [UInt8]) -> [UInt8] {
            var mac = prepared
            mac.update(data: message)
            return Array(mac.finalize())
        }
    }
}
