import KumoProtocols
import NIOCore
import Testing

@testable import KumoServer

/// The byte relay's head reading: what it passes on itself, and what it leaves to NIO's parser.
@Suite struct HTTPHeadBytesTests {
    func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func findsTheEndOfAHead() {
        #expect(HTTPHeadBytes.end(of: buffer("GET / HTTP/1.1\r\nHost: a\r\n")) == .incomplete)
        #expect(HTTPHeadBytes.end(of: buffer("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody")) == .complete(27))
        #expect(HTTPHeadBytes.end(of: buffer("GET / HTTP/1.1\nHost: a\n\n")) == .malformed)
        #expect(HTTPHeadBytes.end(of: buffer("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 70_000))) == .malformed)
    }

    @Test func aPlainRequest() throws {
        let head = try #require(HTTPHeadBytes.request(buffer("POST /a?b=c HTTP/1.1\r\nHost: x:80\r\nContent-Length:  12 \r\nX-E:\r\n\r\n")))
        #expect(head.method == "POST" && head.target == "/a?b=c" && head.contentLength == 12 && head.keepAlive)
        #expect(head.headers.map(\.name) == ["Host", "Content-Length", "X-E"])
        #expect(head.headers.map(\.value) == ["x:80", "12", ""])
        let closing = try #require(HTTPHeadBytes.request(buffer("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n")))
        #expect(!closing.keepAlive && closing.contentLength == nil)
    }

    @Test func requestsLeftToTheFullParser() {
        let others = [
            "GET / HTTP/1.0\r\n\r\n", "GET http://a/ HTTP/1.1\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\u{7}b\r\n\r\n", "G@T / HTTP/1.1\r\n\r\n", "get / HTTP/1.1\r\n\r\n", "BREW / HTTP/1.1\r\n\r\n",
        ]
        for text in others { #expect(HTTPHeadBytes.request(buffer(text)) == nil, "\(text)") }
    }

    @Test func responseFraming() throws {
        func framing(_ text: String, method: String = "GET") throws -> HTTPHeadBytes.Framing {
            try #require(HTTPHeadBytes.response(buffer(text), method: method)).framing
        }
        #expect(try framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") == .length(5))
        #expect(try framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == .none)
        #expect(try framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: "HEAD") == .none)
        #expect(try framing("HTTP/1.1 304 Not Modified\r\n\r\n") == .none)
        #expect(try framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == .chunked)
        #expect(try framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") == .close)
        #expect(try framing("HTTP/1.1 200 OK\r\n\r\n") == .close)
        let answer = try #require(HTTPHeadBytes.response(buffer("HTTP/1.0 404 Not Found\r\nServer: t\r\nContent-Length: 3\r\n\r\n"), method: "GET"))
        #expect(answer.status == 404 && answer.reason == "Not Found" && !answer.keepAlive && answer.headers.count == 2)
        let bare = try #require(HTTPHeadBytes.response(buffer("HTTP/1.1 204\r\n\r\n"), method: "GET"))
        #expect(bare.status == 204 && bare.reason == "" && bare.keepAlive)
        #expect(HTTPHeadBytes.response(buffer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), method: "GET") == nil)
        #expect(HTTPHeadBytes.response(buffer("HTTP/2 200 OK\r\n\r\n"), method: "GET") == nil)
        #expect(HTTPHeadBytes.response(buffer("HTTP/1.1 2x0 OK\r\n\r\n"), method: "GET") == nil)
    }

    @Test func aResponsesHeadersPassOnAsBytesWithoutTheConnectionsOwn() throws {
        let head = "HTTP/1.1 200 OK\r\nServer: t\r\nConnection: keep-alive\r\nSet-Cookie: a=1\r\nKeep-Alive: timeout=5\r\n"
            + "Transfer-Encoding: chunked\r\nX-Empty:\r\nx-lower:  spaced \r\n\r\n"
        let answer = try #require(HTTPHeadBytes.response(buffer(head), method: "GET"))
        #expect(String(buffer: answer.passed) == "Server: t\r\nSet-Cookie: a=1\r\nX-Empty: \r\nx-lower: spaced\r\n")
        #expect(answer.headers.map { "\($0.name)=\($0.value)" } == ["Server=t", "Set-Cookie=a=1", "X-Empty=", "x-lower=spaced"])
        #expect(answer.framing == .chunked && answer.keepAlive)
    }

    @Test func hopByHopNamesAreKnownInAnyCase() {
        for name in hopByHopHeaders { #expect(HTTPHeadBytes.isHopByHop(name) && HTTPHeadBytes.isHopByHop(name.uppercased()), "\(name)") }
        for name in ["Host", "Content-Length", "TE2", "Connections", "X-Upgrade", ""] { #expect(!HTTPHeadBytes.isHopByHop(name), "\(name)") }
    }

    @Test func chunkedBodiesEndWhereTheyEnd() throws {
        let body = "5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\n"
        let next = "HTTP/1.1 200 OK\r\n"
        let bytes = Array((body + next).utf8)
        // Whole, and fed one byte at a time: the body ends at the same place.
        var whole = ChunkScanner()
        let taken = try bytes.withUnsafeBytes { try whole.scan($0) }
        #expect(taken == body.utf8.count && whole.isDone)
        var bytewise = ChunkScanner()
        var count = 0
        for b in bytes where !bytewise.isDone { count += try [b].withUnsafeBytes { try bytewise.scan($0) } }
        #expect(count == body.utf8.count)
        var bad = ChunkScanner()
        #expect(throws: ChunkScanner.Failure.self) { try Array("zz\r\n".utf8).withUnsafeBytes { try bad.scan($0) } }
        var noCRLF = ChunkScanner()
        #expect(throws: ChunkScanner.Failure.self) { try Array("1\r\nab".utf8).withUnsafeBytes { try noCRLF.scan($0) } }
    }
}
