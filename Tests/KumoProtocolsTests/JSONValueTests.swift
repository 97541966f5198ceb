import Testing

@testable import KumoProtocols

@Suite struct JSONValueTests {
    func written(_ value: JSONValue) -> String {
        var out = ""
        value.write(to: &out)
        return out
    }

    @Test func stringsEscapeQuotesBackslashesAndControlCharactersOnly() throws {
        #expect(written(.string("plain")) == #""plain""#)
        #expect(written(.string("")) == #""""#)
        #expect(written(.string("a\"b\\c")) == #""a\"b\\c""#)
        #expect(written(.string("\n\r\t\u{01}\u{1F}")) == #""\n\r\t\u0001\u001f""#)
        // Everything else is written as it is, multi-byte characters beside escapes included.
        #expect(written(.string("é\"😀\n日本")) == "\"é\\\"😀\\n日本\"")
        #expect(written(.object([("k\"ey", .array([.string("\u{7F}/"), .null]))])) == "{\"k\\\"ey\":[\"\u{7F}/\",null]}")
        let tricky = "x\"\\\u{0}y😀\u{2028}"
        #expect(try JSONValue.parse(written(.string(tricky))) == .string(tricky))
    }
}
