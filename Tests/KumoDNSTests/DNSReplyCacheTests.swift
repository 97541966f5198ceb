import KumoCore
import Logging
import NIOCore
import Testing

@testable import KumoDNS

/// Kept replies: reused only for the same question (any case, any id) and the same version of
/// the source's answers, and only for plain queries.
@Suite struct DNSReplyCacheTests {
    static let allocator = ByteBufferAllocator()

    /// DNSMessageTests.query with another id and the name spelled `WWW.Example.com`.
    static var shouted: [UInt8] {
        var q = DNSMessageTests.query
        q[0] = 0xAB
        q[1] = 0xCD
        for i in 13...15 { q[i] -= 32 }  // www → WWW
        q[17] -= 32  // example → Example
        return q
    }

    /// A reply to `query` as the server makes it, for a source whose answer is reusable.
    static func reply(_ query: [UInt8], address: [UInt8] = [192, 0, 2, 1]) -> [UInt8] {
        let answer = DNSRecordSet(name: "www.example.com.", type: "A", ttl: 60, values: [address.map(String.init).joined(separator: ".")])
        struct Source: DNSAnswerSource {
            var answer: DNSAnswer
            func answer(name: String, type: String, client: DNSClient) async -> DNSAnswer { answer }
        }
        let server = DNSServer(channels: [], source: Source(answer: .records([answer])), logger: Logger(label: "test"))
        guard case .ask(let question) = server.respondNow(query) else { return [] }
        return question.reply(.records([answer]))
    }

    @Test func aKeptReplyAnswersTheSameQuestionWithTheQuerysIdAndCase() throws {
        var cache = DNSReplyCache()
        let first = ByteBuffer(bytes: DNSMessageTests.query)
        let key = try #require(DNSReplyCache.Key(first))
        let got1 = cache.reply(to: first, key: key, version: 7, allocator: Self.allocator)
        #expect(got1 == nil)
        cache.keep(Self.reply(DNSMessageTests.query), for: key, version: 7)

        let second = ByteBuffer(bytes: Self.shouted)
        let sameKey = try #require(DNSReplyCache.Key(second))
        #expect(sameKey == key)
        let hit = cache.reply(to: second, key: sameKey, version: 7, allocator: Self.allocator)
        let reused = try #require(hit)
        // Byte for byte what the server would have built for this query.
        #expect(Array(buffer: reused) == Self.reply(Self.shouted))
        let parsed = try DNSMessage.parse(Array(buffer: reused))
        #expect(parsed.id == 0xABCD && parsed.questions.first?.name == "WWW.Example.com.")
    }

    @Test func aNewVersionDropsWhatWasKeptAndAnOlderOneIsNotKept() throws {
        var cache = DNSReplyCache()
        let query = ByteBuffer(bytes: DNSMessageTests.query)
        let key = try #require(DNSReplyCache.Key(query))
        _ = cache.reply(to: query, key: key, version: 1, allocator: Self.allocator)
        cache.keep(Self.reply(DNSMessageTests.query), for: key, version: 1)
        let got2 = cache.reply(to: query, key: key, version: 1, allocator: Self.allocator)
        #expect(got2 != nil)
        // A write to the zones: the kept reply is not given again.
        let got3 = cache.reply(to: query, key: key, version: 2, allocator: Self.allocator)
        #expect(got3 == nil)
        let got4 = cache.reply(to: query, key: key, version: 2, allocator: Self.allocator)
        #expect(got4 == nil)
        // An answer made from the older zones (a race with the write) is not kept.
        cache.keep(Self.reply(DNSMessageTests.query), for: key, version: 1)
        let got5 = cache.reply(to: query, key: key, version: 2, allocator: Self.allocator)
        #expect(got5 == nil)
        let fresh = Self.reply(DNSMessageTests.query, address: [192, 0, 2, 9])
        cache.keep(fresh, for: key, version: 2)
        let got6 = cache.reply(to: query, key: key, version: 2, allocator: Self.allocator)
        #expect(got6.map { Array(buffer: $0) } == fresh)
    }

    @Test func onlyPlainQueriesHaveAKey() {
        func key(_ edit: (inout [UInt8]) -> Void) -> DNSReplyCache.Key? {
            var q = DNSMessageTests.query
            edit(&q)
            return DNSReplyCache.Key(ByteBuffer(bytes: q))
        }
        #expect(key { _ in } != nil)
        #expect(key { $0[2] |= 0x80 } == nil)  // a response
        #expect(key { $0[2] |= 2 << 3 } == nil)  // opcode STATUS
        #expect(key { $0[5] = 2 } == nil)  // two questions
        #expect(key { $0[7] = 1 } == nil)  // an answer section
        #expect(key { $0[11] = 2 } == nil)  // more than the OPT record
        #expect(key { $0[14] = UInt8(ascii: ".") } == nil)  // a dot inside a label
        #expect(key { $0[14] = 0xC3 } == nil)  // not ASCII
        #expect(key { $0.removeLast(15) } == nil)  // cut inside the question
        // A compressed question name (a pointer) is not kept.
        #expect(key { $0.replaceSubrange(12...28, with: [0xC0, 12]) } == nil)
        // Another buffer size or client subnet is another key.
        #expect(key { $0[37] = 0x10 } != key { _ in })
    }

    @Test func aReplyToAnotherQuestionIsNotKept() throws {
        var cache = DNSReplyCache()
        let query = ByteBuffer(bytes: DNSMessageTests.query)
        let key = try #require(DNSReplyCache.Key(query))
        var other = Self.reply(DNSMessageTests.query)
        other[13] = UInt8(ascii: "x")
        _ = cache.reply(to: query, key: key, version: 0, allocator: Self.allocator)
        cache.keep(other, for: key, version: 0)
        let got7 = cache.reply(to: query, key: key, version: 0, allocator: Self.allocator)
        #expect(got7 == nil)
    }
}
