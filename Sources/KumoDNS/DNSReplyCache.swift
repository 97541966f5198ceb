import NIOCore

/// Replies that are the same for every client (see `DNSAnswerNow.version`), by question: a
/// repeated query is answered by copying the kept reply with the query's id and the question
/// name as the query spelled it (names are case-insensitive; the reply echoes the case). Only
/// plain queries are kept — one question, an uncompressed name of printable ASCII, nothing but
/// an optional OPT record after it — and only for one version of the source's answers: when the
/// version changes, everything kept is dropped. One per UDP socket, used on its event loop.
struct DNSReplyCache {
    /// The query without its id, the name lower-cased: the flags, the question and the OPT
    /// record (buffer size, client subnet) decide the reply, so they are all in the key.
    struct Key: Hashable {
        var bytes: [UInt8]
        /// Where the question name ends (it starts at 12 in both query and reply).
        var nameEnd: Int

        static func parse(_ q: UnsafeRawBufferPointer) -> Key? {
            guard q.count >= 17, q.count <= 1024, q[2] & 0xF8 == 0,  // a query, opcode QUERY
                q[4] == 0, q[5] == 1, q[6] == 0, q[7] == 0, q[8] == 0, q[9] == 0, q[10] == 0, q[11] <= 1
            else { return nil }
            var at = 12
            while true {
                guard at < q.count else { return nil }
                let length = Int(q[at])
                if length == 0 { break }
                guard length < 64, at + 1 + length < q.count else { return nil }
                for i in (at + 1)...(at + length) where q[i] <= 0x20 || q[i] >= 0x7F || q[i] == UInt8(ascii: ".") { return nil }
                at += 1 + length
            }
            let nameEnd = at + 1
            guard nameEnd + 4 <= q.count, nameEnd - 12 <= 255 else { return nil }
            var bytes = Array(q[2...])
            for i in 10..<(nameEnd - 2) where bytes[i] >= 65 && bytes[i] <= 90 { bytes[i] += 32 }
            return Key(bytes: bytes, nameEnd: nameEnd)
        }

        static func == (a: Key, b: Key) -> Bool { a.bytes == b.bytes }

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// How many replies one socket keeps; past that, it starts again from none.
    static let capacity = 4096

    private var version: UInt64 = 0
    private var replies: [Key: [UInt8]] = [:]

    /// The kept reply to this query, made its own; nil when there is none for this version.
    mutating func reply(to query: ByteBuffer, key: Key, version current: UInt64, allocator: ByteBufferAllocator) -> ByteBuffer? {
        if current != version {
            replies.removeAll()
            version = current
            return nil
        }
        guard let kept = replies[key] else { return nil }
        var out = allocator.buffer(capacity: kept.count)
        out.writeBytes(kept)
        query.withUnsafeReadableBytes { q in
            out.setBytes(UnsafeRawBufferPointer(rebasing: q[0..<2]), at: 0)
            out.setBytes(UnsafeRawBufferPointer(rebasing: q[12..<key.nameEnd]), at: 12)
        }
        return out
    }

    /// Keeps a reply made for `version` of the source's answers, when its question is the query's.
    mutating func keep(_ reply: [UInt8], for key: Key, version made: UInt64) {
        if made != version {
            // Made from newer answers than those kept: the kept ones are stale. Older: not kept.
            guard made > version else { return }
            replies.removeAll()
            version = made
        }
        guard reply.count >= key.nameEnd + 4 else { return }
        for i in 12..<key.nameEnd {
            let b = reply[i]
            guard (b >= 65 && b <= 90 ? b + 32 : b) == key.bytes[i - 2] else { return }
        }
        if replies.count >= Self.capacity { replies.removeAll(keepingCapacity: true) }
        replies[key] = reply
    }
}

extension DNSReplyCache.Key {
    /// The key of a plain query; nil for anything else.
    init?(_ query: ByteBuffer) {
        guard let found = query.withUnsafeReadableBytes({ Self.parse($0) }) else { return nil }
        self = found
    }
}
