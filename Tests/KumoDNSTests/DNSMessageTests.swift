import KumoCore
import Testing

@testable import KumoDNS

@Suite struct DNSMessageTests {
    /// A query for www.example.com A as dig sends it, with an EDNS OPT record.
    static let query: [UInt8] = [
        0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        3, 0x77, 0x77, 0x77, 7, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 3, 0x63, 0x6f, 0x6d, 0,
        0x00, 0x01, 0x00, 0x01,
        0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]

    @Test func parsesAQuery() throws {
        let m = try DNSMessage.parse(Self.query)
        #expect(m.id == 0x1234 && !m.isResponse && m.opcode == 0)
        #expect(m.questions == [.init(name: "www.example.com.", type: 1, klass: 1)])
        #expect(m.hasEDNS)
    }

    @Test func answersCompressNamesAndRoundTrip() throws {
        var m = try DNSMessage.parse(Self.query)
        m.flags = 0x8400
        m.answers = [
            .init(name: "www.example.com.", type: 1, klass: 1, ttl: 60, data: [192, 0, 2, 1]),
            .init(name: "www.example.com.", type: 1, klass: 1, ttl: 60, data: [192, 0, 2, 2]),
        ]
        let bytes = m.serialized()
        // The answers' owner names are pointers to the question's name at offset 12.
        #expect(bytes.count == 12 + 17 + 4 + 2 * (2 + 10 + 4) + 11)
        #expect(Array(bytes[33...34]) == [0xC0, 12])
        let again = try DNSMessage.parse(bytes)
        #expect(again.questions == m.questions && again.isResponse)
    }

    @Test func rejectsTruncatedAndLoopingInput() {
        #expect(throws: (any Error).self) { try DNSMessage.parse(Array(Self.query.prefix(20))) }
        var loop = Array(Self.query.prefix(12))
        loop += [0xC0, 12, 0, 1, 0, 1]
        #expect(throws: (any Error).self) { try DNSMessage.parse(loop) }
    }

    @Test func recordData() {
        #expect(DNSType.rdata(type: "A", value: "192.0.2.1") == [192, 0, 2, 1])
        #expect(DNSType.rdata(type: "A", value: "300.0.0.1") == nil)
        #expect(DNSType.rdata(type: "AAAA", value: "::1")?.count == 16)
        #expect(DNSType.rdata(type: "MX", value: "10 mail.example.com") == [0, 10, 4] + Array("mail".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0])
        #expect(DNSType.rdata(type: "TXT", value: "\"a b\" \"c\"") == [3] + Array("a b".utf8) + [1] + Array("c".utf8))
        #expect(DNSType.rdata(type: "CNAME", value: "x.") == [1, 0x78, 0])
        #expect(DNSType.rdata(type: "NAPTR", value: #"100 10 "U" "E2U+sip" "!^.*$!sip:a@b!" ."#)
            == [0, 100, 0, 10, 1] + Array("U".utf8) + [7] + Array("E2U+sip".utf8) + [14] + Array("!^.*$!sip:a@b!".utf8) + [0])
        #expect(DNSType.rdata(type: "DS", value: "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118") == [0xEC, 0x45, 5, 1,
            0x2B, 0xB1, 0x83, 0xAF, 0x5F, 0x22, 0x58, 0x81, 0x79, 0xA5, 0x3B, 0x0A, 0x98, 0x63, 0x1F, 0xAD, 0x1A, 0x29, 0x21, 0x18])
    }

    /// The same query with an EDNS Client Subnet option for 10.1.2.0/24, as `dig +subnet` sends it.
    static var ecsQuery: [UInt8] {
        var q = Array(query.dropLast(2))
        q += [0x00, 0x0b, 0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 24, 0, 10, 1, 2]
        return q
    }

    @Test func readsAndEchoesTheClientSubnet() throws {
        var m = try DNSMessage.parse(Self.ecsQuery)
        #expect(m.clientSubnet == .init(family: 1, sourcePrefix: 24, address: [10, 1, 2]))
        #expect(m.clientSubnet?.addressText == "10.1.2.0")
        m.flags = 0x8400
        let bytes = m.serialized()
        // The OPT record carries the option back with the scope prefix set to the source prefix.
        #expect(Array(bytes.suffix(13)) == [0x00, 0x0b, 0x00, 0x08, 0x00, 0x07, 0x00, 0x01, 24, 24, 10, 1, 2])
        #expect(try DNSMessage.parse(bytes).clientSubnet?.addressText == "10.1.2.0")
    }

    @Test func rejectsAClientSubnetLongerThanItsRecord() {
        var q = Self.ecsQuery
        q[q.count - 8] = 0x20  // option length past the end of the OPT data
        #expect(throws: (any Error).self) { try DNSMessage.parse(q) }
    }
}
