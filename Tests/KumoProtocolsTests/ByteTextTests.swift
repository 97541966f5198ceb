import Testing

@testable import KumoProtocols

/// The byte-level text helpers on the request path give what the plain string versions give.
@Suite struct ByteTextTests {
    @Test func asciiSplitMatchesSplitOnNativeAndBridgedText() {
        let samples = ["", "a", "&", "&&a&&b&", "Action=GetCallerIdentity&Version=2011-06-15", "é&ü&&日本", "x&y&z"]
        for s in samples {
            for omitting in [true, false] {
                let expected = s.split(separator: "&", omittingEmptySubsequences: omitting).map(String.init)
                #expect(Substring(s).asciiSplit(UInt8(ascii: "&"), omittingEmpty: omitting).map(String.init) == expected)
                // A substring in the middle of a longer string: offsets are relative to the slice.
                let wrapped = "##" + s + "##"
                let slice = wrapped.dropFirst(2).dropLast(2)
                #expect(slice.asciiSplit(UInt8(ascii: "&"), omittingEmpty: omitting).map(String.init) == expected)
            }
            let limited = s.split(separator: "&", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            #expect(Substring(s).asciiSplit(UInt8(ascii: "&"), maxSplits: 1, omittingEmpty: false).map(String.init) == limited)
        }
    }

    @Test func formDecodingSplitsPairsAndDecodesEscapes() {
        let cases: [(String, [(String, String)])] = [
            ("", []),
            ("a=1&b=2", [("a", "1"), ("b", "2")]),
            ("&&a&b=&=c&", [("a", ""), ("b", ""), ("", "c")]),
            ("X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&x=a+b%20c", [
                ("X-Amz-Credential", "AKID/20260101/us-east-1/s3/aws4_request"), ("x", "a b c"),
            ]),
            ("bad=%zz%4&tail=%", [("bad", "%zz%4"), ("tail", "%")]),
            ("k=a=b&%C3%A9=%E6%97%A5", [("k", "a=b"), ("é", "日")]),
        ]
        for (text, expected) in cases {
            for input in [Substring(text), ("??" + text + "!!").dropFirst(2).dropLast(2)] {
                let decoded = FormEncoding.decode(input)
                #expect(decoded.map(\.0) == expected.map(\.0), "\(text)")
                #expect(decoded.map(\.1) == expected.map(\.1), "\(text)")
            }
        }
        #expect(FormEncoding.unescape("a+b%2B", plus: false) == "a+b+")
    }

    @Test func aNormalizedPathIsLeftAsItIs() {
        for path in ["/", "/a", "/a/", "/a.b/c_d-e~f", "/...", "/a/.../b"] {
            #expect(SigV4.isNormalized(path), "\(path)")
            #expect(SigV4.canonicalURI(path, normalize: true) == path)
        }
        let rewritten = [
            "": "/", "/a//b": "/a/b", "/./a": "/a", "/a/../b": "/b", "/a/.": "/a", "/a/..": "/",
            "/a b": "/a%20b", "/%41": "/%2541",
        ]
        for (path, canonical) in rewritten {
            if !path.isEmpty { #expect(!SigV4.isNormalized(path), "\(path)") }
            #expect(SigV4.canonicalURI(path, normalize: true) == canonical, "\(path)")
        }
    }

    @Test func headerValuesAreTrimmedAndTheirSpaceRunsCollapsed() {
        func canonical(_ v: String) -> String {
            var out: [UInt8] = []
            SigV4.appendCanonicalHeaderValue(v, to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        #expect(canonical("  a   b\t\tc \n d  ") == "a b c d")
        #expect(canonical("plain") == "plain")
        #expect(canonical("   ") == "")
        #expect(canonical("é  ü") == "é ü")
    }

    @Test func xmlBytesEscapeTextAndAttributes() {
        let doc = XMLElement(
            name: "R", attributes: [("k", "a\"b\nc&")],
            children: [XMLElement(name: "T", text: "1 < 2 & 3 > 0\r"), XMLElement(name: "E"), XMLElement(name: "U", text: "日本\"q\"")])
        let text = #"<R k="a&quot;b&#xA;c&amp;"><T>1 &lt; 2 &amp; 3 &gt; 0&#xD;</T><E/><U>日本"q"</U></R>"#
        #expect(String(decoding: doc.serializedBytes(declaration: false), as: UTF8.self) == text)
        #expect(doc.serialized() == #"<?xml version="1.0" encoding="UTF-8"?>"# + text)
    }

    @Test func asciiCaseHelpersLeaveOtherBytesAlone() {
        #expect("X-Amz-Date".asciiLowercased == "x-amz-date")
        #expect("already".asciiLowercased == "already")
        #expect("ÉtÉ-ABC".asciiLowercased == "ÉtÉ-abc")
        #expect(("##Host##".dropFirst(2).dropLast(2)).asciiLowercased == "host")
        #expect("content-type".asciiUppercased == "CONTENT-TYPE")
        #expect("Content-Type".caseInsensitiveEquals("content-TYPE"))
        #expect(!"Content-Type".caseInsensitiveEquals("Content-Typf"))
        #expect(!"Host".caseInsensitiveEquals("Hos"))
        #expect("é".caseInsensitiveEquals("é") && !"é".caseInsensitiveEquals("É"))
    }

    @Test func canonicalQuerySortsEncodesAndDropsTheSignature() {
        let raw = "b=2&a=1&a=0&X-Amz-Signature=zz&c&&d=%2f&e=a+b&f=%41%7E&g=%E6%97%A5"
        #expect(SigV4.canonicalQuery(raw, dropSignature: true) == "a=0&a=1&b=2&c=&d=%2F&e=a%2Bb&f=A~&g=%E6%97%A5")
        #expect(SigV4.canonicalQuery(raw, dropSignature: false).hasPrefix("X-Amz-Signature=zz&a=0"))
        #expect(SigV4.canonicalQuery("", dropSignature: true) == "")
        #expect(SigV4.canonicalQuery("k=v%", dropSignature: true) == "k=v%25")
    }
}
