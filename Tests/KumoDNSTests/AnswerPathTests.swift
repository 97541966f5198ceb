import KumoCore
import Logging
import NIOCore
import Testing

@testable import KumoDNS

/// The two ways a query is answered: at once from what the source holds in memory, or through
/// the source's async answer; both give the same bytes.
@Suite struct AnswerPathTests {
    struct Source: DNSAnswerSource {
        var inMemory: Bool
        var result: DNSAnswer = .records([DNSRecordSet(name: "www.example.com.", type: "A", ttl: 60, values: ["192.0.2.1"])])

        func answer(name: String, type: String, client: DNSClient) async -> DNSAnswer { result }
        func answerNow(name: String, type: String, client: DNSClient) -> DNSAnswerNow? { inMemory ? DNSAnswerNow(result) : nil }
    }

    func server(_ source: Source, upstream: SocketAddress? = nil) -> DNSServer {
        DNSServer(channels: [], source: source, upstream: upstream, logger: Logger(label: "test"))
    }

    @Test func anAnswerInMemoryIsGivenAtOnceAndMatchesTheAsyncOne() async throws {
        guard case .reply(let now, _) = server(Source(inMemory: true)).respondNow(DNSMessageTests.query, from: "127.0.0.1") else {
            Issue.record("expected a reply at once")
            return
        }
        let reply = try DNSMessage.parse(now)
        #expect(reply.isResponse && reply.id == 0x1234 && reply.flags & 0x0400 != 0)
        // One answer (ANCOUNT; the parser reads questions only), carrying the address.
        #expect(now[6] == 0 && now[7] == 1)
        #expect((0...(now.count - 4)).contains { Array(now[$0..<$0 + 4]) == [192, 0, 2, 1] })

        let slow = server(Source(inMemory: false))
        guard case .ask(let question) = slow.respondNow(DNSMessageTests.query, from: "127.0.0.1") else {
            Issue.record("expected the query to wait for the source")
            return
        }
        #expect(question.name == "www.example.com." && question.type == "A")
        #expect(await slow.respond(DNSMessageTests.query, from: "127.0.0.1") == now)
    }

    @Test func refusedNamesWaitWhenThereIsAnUpstreamToAsk() throws {
        let refused = Source(inMemory: true, result: .refused)
        guard case .reply(let bytes, _) = server(refused).respondNow(DNSMessageTests.query) else {
            Issue.record("expected REFUSED at once without an upstream")
            return
        }
        #expect(try DNSMessage.parse(bytes).flags & 0xF == 5)
        let upstream = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        guard case .ask = server(refused, upstream: upstream).respondNow(DNSMessageTests.query) else {
            Issue.record("expected the query to go upstream")
            return
        }
    }

    @Test func answersAreNotAnsweredAndOtherOpcodesAreNotImplemented() throws {
        var response = DNSMessageTests.query
        response[2] |= 0x80
        guard case .drop = server(Source(inMemory: true)).respondNow(response) else {
            Issue.record("a response must not be answered")
            return
        }
        var notify = DNSMessageTests.query
        notify[2] = (notify[2] & 0x87) | (4 << 3)
        guard case .reply(let bytes, _) = server(Source(inMemory: true)).respondNow(notify) else {
            Issue.record("expected NOTIMP at once")
            return
        }
        #expect(try DNSMessage.parse(bytes).flags & 0xF == 4)
    }
}
