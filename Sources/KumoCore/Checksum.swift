public import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checksum algorithms S3 accepts for data integrity (`x-amz-checksum-*`),
/// computed as the bytes stream past; values are base64 of the big-endian digest.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable, Codable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case crc64nvme = "CRC64NVME"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// The header that carries this checksum: `x-amz-checksum-crc32`, ...
    public var header: String { "x-amz-checksum-" + rawValue.lowercased() }

    /// The member name in S3's shapes: `ChecksumCRC32`, ...
    public var member: String { "Checksum" + rawValue }

    public init?(caseInsensitive name: String) {
        guard let a = Self.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else { return nil }
        self = a
    }

    /// Whether `value` could be a checksum of this kind (base64 of the right length).
    public func isWellFormed(_ value: String) -> Bool {
        guard let data = Data(base64Encoded: value) else { return false }
        switch self {
        case .crc32, .crc32c: return data.count == 4
        case .crc64nvme: return data.count == 8
        case .sha1: return data.count == 20
        case .sha256: return data.count == 32
        }
    }
}

/// One running checksum.
public struct ChecksumHasher {
    enum State {
        case crc32(UInt32)
        case crc32c(UInt32)
        case crc64(UInt64)
        case sha1(Insecure.SHA1)
        case sha256(SHA256)
    }

    public let algorithm: ChecksumAlgorithm
    var state: State

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .crc32: state = .crc32(0xFFFF_FFFF)
        case .crc32c: state = .crc32c(0xFFFF_FFFF)
        case .crc64nvme: state = .crc64(~0)
        case .sha1: state = .sha1(Insecure.SHA1())
        case .sha256: state = .sha256(SHA256())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .crc32(let c): state = .crc32(CRC.crc32.update(c, bytes))
        case .crc32c(let c): state = .crc32c(CRC.crc32c.update(c, bytes))
        case .crc64(let c): state = .crc64(CRC.crc64nvme.update(c, bytes))
        case .sha1(var h):
            h.update(bufferPointer: bytes)
            state = .sha1(h)
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The raw digest, big-endian.
    public func digest() -> [UInt8] {
        switch state {
        case .crc32(let c), .crc32c(let c):
            let v = ~c
            return [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        case .crc64(let c):
            let v = ~c
            return (0..<8).reversed().map { UInt8(v >> (UInt64($0) * 8) & 0xFF) }
        case .sha1(let h): return Array(h.finalize())
        case .sha256(let h): return Array(h.finalize())
        }
    }

    public func base64() -> String { Data(digest()).base64EncodedString() }
}

/// A reflected CRC with slice-by-8 tables (eight 256-entry tables, stored flat).
struct CRCTables<Word: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    let table: [Word]

    init(polynomial: Word) {
        var t = [Word](repeating: 0, count: 256 * 8)
        for i in 0..<256 {
            var c = Word(i)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(truncatingIfNeeded: prev & 0xFF)]
            }
        }
        table = t
    }

    func update(_ crc: Word, _ bytes: UnsafeRawBufferPointer) -> Word {
        var c = crc
        var i = 0
        let n = bytes.count
        table.withUnsafeBufferPointer { t in
            while n - i >= 8 {
                let x = UInt64(truncatingIfNeeded: c) ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                var r: Word = t[7 * 256 + Int(x & 0xFF)]
                r ^= t[6 * 256 + Int((x >> 8) & 0xFF)]
                r ^= t[5 * 256 + Int((x >> 16) & 0xFF)]
                r ^= t[4 * 256 + Int((x >> 24) & 0xFF)]
                r ^= t[3 * 256 + Int((x >> 32) & 0xFF)]
                r ^= t[2 * 256 + Int((x >> 40) & 0xFF)]
                r ^= t[256 + Int((x >> 48) & 0xFF)]
                r ^= t[Int(x >> 56)]
                c = r
                i += 8
            }
            while i < n {
                c = t[Int(truncatingIfNeeded: (c ^ Word(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return c
    }
}

enum CRC {
    static let crc32 = CRCTables<UInt32>(polynomial: 0xEDB8_8320)
    static let crc32c = CRCTables<UInt32>(polynomial: 0x82F6_3B78)
    static let crc64nvme = CRCTables<UInt64>(polynomial: 0x9A6C_9329_AC4B_C9B5)
}
