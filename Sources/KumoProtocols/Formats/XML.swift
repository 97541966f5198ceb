/// A small XML element tree with its own parser and writer.
///
/// AWS's XML is simple (no DTDs, no mixed content that matters), so Kumo keeps
/// its own reader instead of FoundationXML: it is faster to start, has no
/// libxml2 dependency, and rejects entity tricks by construction.
public struct XMLElement: Sendable, Equatable {
    /// The element's name without namespace prefix.
    public var name: String
    /// Attributes by their name as written (`xmlns`, `xmlns:xsi`, `xsi:type`).
    public var attributes: [(name: String, value: String)]
    public var children: [XMLElement]
    /// Character data directly inside this element.
    public var text: String

    public init(name: String, attributes: [(name: String, value: String)] = [], children: [XMLElement] = [], text: String = "") {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    public static func == (lhs: XMLElement, rhs: XMLElement) -> Bool {
        lhs.name == rhs.name && lhs.text == rhs.text && lhs.children == rhs.children
            && lhs.attributes.map { "\($0.name)=\($0.value)" } == rhs.attributes.map { "\($0.name)=\($0.value)" }
    }

    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    public func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }

    /// An attribute by local name (`type` finds `xsi:type`).
    public func attribute(_ name: String) -> String? {
        if let a = attributes.first(where: { $0.name == name }) { return a.value }
        return attributes.first { $0.name.split(separator: ":").last.map(String.init) == name }?.value
    }
}

public struct XMLParseError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension XMLElement {
    /// Parses a document and returns its root element.
    public static func parse(_ bytes: some Collection<UInt8>) throws(XMLParseError) -> XMLElement {
        var reader = XMLReader(bytes: Array(bytes))
        return try reader.parseDocument()
    }

    public static func parse(_ string: String) throws(XMLParseError) -> XMLElement {
        try parse(Array(string.utf8))
    }
}

struct XMLReader {
    let bytes: [UInt8]
    var i = 0
    var depth = 0
    static let maxDepth = 256

    func fail(_ message: String) -> XMLParseError { XMLParseError(message: "\(message) (at byte \(i))") }

    mutating func parseDocument() throws(XMLParseError) -> XMLElement {
        // BOM
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        try skipMisc()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "<") else { throw fail("expected a root element") }
        let root = try parseElement()
        try skipMisc()
        guard i == bytes.count else { throw fail("unexpected content after the root element") }
        return root
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
    }

    func startsWith(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return i + u.count <= bytes.count && Array(bytes[i..<(i + u.count)]) == u
    }

    mutating func skip(until terminator: String) throws(XMLParseError) {
        let t = Array(terminator.utf8)
        while i + t.count <= bytes.count {
            if bytes[i] == t[0], Array(bytes[i..<(i + t.count)]) == t { i += t.count; return }
            i += 1
        }
        throw fail("unterminated markup")
    }

    /// Skips the prolog, comments, processing instructions and white space.
    mutating func skipMisc() throws(XMLParseError) {
        while true {
            skipSpace()
            if startsWith("<?") { try skip(until: "?>"); continue }
            if startsWith("<!--") { try skip(until: "-->"); continue }
            if startsWith("<!DOCTYPE") || startsWith("<!doctype") { throw fail("DOCTYPE is not allowed") }
            return
        }
    }

    mutating func parseName() throws(XMLParseError) -> String {
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 || c == UInt8(ascii: ">") || c == UInt8(ascii: "/")
                || c == UInt8(ascii: "=") || c == UInt8(ascii: "<")
            {
                break
            }
            i += 1
        }
        guard i > start else { throw fail("expected a name") }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    static func localName(_ qualified: String) -> String {
        if let colon = qualified.lastIndex(of: ":") { return String(qualified[qualified.index(after: colon)...]) }
        return qualified
    }

    mutating func parseElement() throws(XMLParseError) -> XMLElement {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("XML nested too deeply") }
        defer { depth -= 1 }
        i += 1  // <
        let qname = try parseName()
        var element = XMLElement(name: Self.localName(qname))
        while true {
            skipSpace()
            guard i < bytes.count else { throw fail("unterminated start tag") }
            if bytes[i] == UInt8(ascii: "/") {
                i += 1
                guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { throw fail("expected '>'") }
                i += 1
                return element
            }
            if bytes[i] == UInt8(ascii: ">") { i += 1; break }
            let attr = try parseName()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw fail("expected '=' after attribute") }
            i += 1
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else {
                throw fail("expected a quoted attribute value")
            }
            let quote = bytes[i]
            i += 1
            let start = i
            while i < bytes.count, bytes[i] != quote { i += 1 }
            guard i < bytes.count else { throw fail("unterminated attribute value") }
            let raw = Array(bytes[start..<i])
            i += 1
            element.attributes.append((attr, String(decoding: try decodeEntities(raw), as: UTF8.self)))
        }
        var text: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("unterminated element <\(qname)>") }
            if bytes[i] != UInt8(ascii: "<") {
                let start = i
                while i < bytes.count, bytes[i] != UInt8(ascii: "<") { i += 1 }
                text.append(contentsOf: try decodeEntities(Array(bytes[start..<i])))
                continue
            }
            if startsWith("</") {
                i += 2
                let close = try parseName()
                guard close == qname else { throw fail("mismatched closing tag </\(close)> for <\(qname)>") }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { throw fail("expected '>'") }
                i += 1
                break
            }
            if startsWith("<!--") { try skip(until: "-->"); continue }
            if startsWith("<![CDATA[") {
                i += 9
                let start = i
                try skip(until: "]]>")
                text.append(contentsOf: bytes[start..<(i - 3)])
                continue
            }
            if startsWith("<?") { try skip(until: "?>"); continue }
            if startsWith("<!") { throw fail("declarations are not allowed") }
            element.children.append(try parseElement())
        }
        guard let s = String(validating: text, as: UTF8.self) else { throw fail("invalid UTF-8") }
        element.text = s
        return element
    }

    func decodeEntities(_ raw: [UInt8]) throws(XMLParseError) -> [UInt8] {
        guard raw.contains(UInt8(ascii: "&")) else { return raw }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var j = 0
        while j < raw.count {
            guard raw[j] == UInt8(ascii: "&") else { out.append(raw[j]); j += 1; continue }
            guard let semi = raw[j...].firstIndex(of: UInt8(ascii: ";")), semi - j <= 12 else {
                throw fail("invalid entity reference")
            }
            let name = String(decoding: raw[(j + 1)..<semi], as: UTF8.self)
            switch name {
            case "amp": out.append(UInt8(ascii: "&"))
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                var value: UInt32?
                if name.hasPrefix("#x") || name.hasPrefix("#X") {
                    value = UInt32(name.dropFirst(2), radix: 16)
                } else if name.hasPrefix("#") {
                    value = UInt32(name.dropFirst(), radix: 10)
                }
                guard let v = value, let scalar = Unicode.Scalar(v) else { throw fail("unknown entity &\(name);") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            }
            j = semi + 1
        }
        return out
    }
}

extension XMLElement {
    /// The document as text, with an XML declaration when `declaration` is true.
    public func serialized(declaration: Bool = true) -> String {
        String(decoding: serializedBytes(declaration: declaration), as: UTF8.self)
    }

    /// The document as UTF-8 bytes, with an XML declaration when `declaration` is true.
    public func serializedBytes(declaration: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        if declaration { out += #"<?xml version="1.0" encoding="UTF-8"?>"#.utf8 }
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "<"))
        out += name.utf8
        for a in attributes {
            out.append(UInt8(ascii: " "))
            out += a.name.utf8
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "\""))
            Self.escape(a.value, attribute: true, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        if children.isEmpty && text.isEmpty {
            out.append(UInt8(ascii: "/"))
            out.append(UInt8(ascii: ">"))
            return
        }
        out.append(UInt8(ascii: ">"))
        Self.escape(text, attribute: false, to: &out)
        for c in children { c.write(to: &out) }
        out.append(UInt8(ascii: "<"))
        out.append(UInt8(ascii: "/"))
        out += name.utf8
        out.append(UInt8(ascii: ">"))
    }

    static func escape(_ s: String, attribute: Bool, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            let plain = !bytes.contains { c in
                c == UInt8(ascii: "&") || c == UInt8(ascii: "<") || c == UInt8(ascii: ">") || c == UInt8(ascii: "\r")
                    || (attribute && (c == UInt8(ascii: "\"") || c == UInt8(ascii: "\n")))
            }
            if plain {
                out.append(contentsOf: bytes)
                return
            }
            for c in bytes {
                switch c {
                case UInt8(ascii: "&"): out += "&amp;".utf8
                case UInt8(ascii: "<"): out += "&lt;".utf8
                case UInt8(ascii: ">"): out += "&gt;".utf8
                case UInt8(ascii: "\"") where attribute: out += "&quot;".utf8
                case UInt8(ascii: "\r"): out += "&#xD;".utf8
                case UInt8(ascii: "\n") where attribute: out += "&#xA;".utf8
                default: out.append(c)
                }
            }
        }
    }
}
