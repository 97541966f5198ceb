import Testing

@testable import KumoProtocols

@Suite struct EventStreamTests {
    @Test func emptyMessageMatchesTheKnownVector() {
        // Total length 16, no headers, the prelude CRC, the message CRC.
        #expect(EventStreamFrame.encode(headers: [], payload: []) == [0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xC2, 0x48, 0xEB, 0x7D, 0x98, 0xC8, 0xFF])
    }

    @Test func headersAndPayloadAreFramedWithTheirLengths() {
        let payload = Array(#"{"a":1}"#.utf8)
        let frame = EventStreamFrame.encode(headers: [(":event-type", "x")], payload: payload)
        // Header: name length, name, type 7 (string), value length (2 bytes), value.
        let header: [UInt8] = [11] + Array(":event-type".utf8) + [7, 0, 1] + Array("x".utf8)
        #expect(frame.count == 12 + header.count + payload.count + 4)
        #expect(Array(frame[0..<4]) == EventStreamFrame.bigEndian(UInt32(frame.count)))
        #expect(Array(frame[4..<8]) == EventStreamFrame.bigEndian(UInt32(header.count)))
        #expect(Array(frame[12..<(12 + header.count)]) == header)
        #expect(Array(frame[(12 + header.count)..<(frame.count - 4)]) == payload)
        #expect(Array(frame.suffix(4)) == EventStreamFrame.crc32(Array(frame.dropLast(4))))
    }
}
