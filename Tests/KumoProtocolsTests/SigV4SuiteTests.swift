import Foundation
import Testing
@testable import KumoProtocols
import KumoCore

/// AWS's SigV4 test suite: every signed request verifies at its fixed time, and
/// stops verifying when a signed header, the path, the query or the body changes.
@Suite struct SigV4SuiteTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

    struct RawRequest {
        var method: String
        var target: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]

        var path: String { String(target.prefix { $0 != "?" }) }
        var query: String { target.firstIndex(of: "?").map { String(target[target.index(after: $0)...]) } ?? "" }
    }

    static func parse(_ text: String) -> RawRequest {
        let parts = text.components(separatedBy: "\n\n")
        let lines = parts[0].components(separatedBy: "\n")
        let requestLine = lines[0]
        let method = String(requestLine.prefix { $0 != " " })
        let afterMethod = requestLine.dropFirst(method.count + 1)
        let target = String(afterMethod[..<afterMethod.range(of: " HTTP/", options: .backwards)!.lowerBound])
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
                continue
            }
            let colon = line.firstIndex(of: ":")!
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
        let body = parts.count > 1 ? Array(parts[1...].joined(separator: "\n\n").utf8) : []
        return RawRequest(method: method, target: target, headers: headers, body: body)
    }

    /// Reads a case's `.sreq`, with the `Authorization` of its `.authz` file: in one case of
    /// the suite (get-vanilla-with-session-token) the `.sreq` carries a signature that is not the
    /// one its `.authz` and `.sts` files compute.
    static func load(_ file: String) throws -> RawRequest {
        let url = Conformance.root.appendingPathComponent("sigv4-testsuite/" + file)
        var request = parse(try String(contentsOf: url, encoding: .utf8))
        let authz = try String(contentsOf: url.deletingPathExtension().appendingPathExtension("authz"), encoding: .utf8)
        for i in request.headers.indices where request.headers[i].name.lowercased() == "authorization" {
            request.headers[i].value = authz.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return request
    }

    static var cases: [String] {
        let root = Conformance.root.appendingPathComponent("sigv4-testsuite")
        let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.hasSuffix(".sreq") }.sorted()
    }

    /// Computes the request's signature and canonical request the way the edge does.
    static func verify(_ r: RawRequest) throws -> (valid: Bool, canonical: String) {
        let claim = try #require(try SigV4.claim(headers: r.headers, query: []))
        let canonical = SigV4.canonicalRequest(
            method: r.method, rawPath: r.path, rawQuery: r.query, headers: r.headers, signedHeaders: claim.signedHeaders,
            payloadHash: Hashing.sha256Hex(r.body), normalizePath: true, presigned: false)
        let key = SigV4.signingKey(secret: secret, date: claim.scopeDate, region: claim.region, service: claim.service)
        let sts = SigV4.stringToSign(amzDate: claim.amzDate, scope: claim.scope, canonicalRequest: canonical)
        return (SigV4.constantTimeEquals(SigV4.signature(key: key, stringToSign: sts), claim.signature), canonical)
    }

    @Test(arguments: cases)
    func signedRequestVerifies(_ file: String) throws {
        let url = Conformance.root.appendingPathComponent("sigv4-testsuite/" + file)
        let request = try Self.load(file)
        let (valid, canonical) = try Self.verify(request)
        let creq = try String(contentsOf: url.deletingPathExtension().appendingPathExtension("creq"), encoding: .utf8)
        #expect(canonical == creq)
        #expect(valid)
    }

    @Test(arguments: cases)
    func tamperedRequestIsRejected(_ file: String) throws {
        let original = try Self.load(file)
        let claim = try #require(try SigV4.claim(headers: original.headers, query: []))

        var path = original
        path.target = "/tampered" + original.target
        #expect(try !Self.verify(path).valid, "changed path accepted")

        var query = original
        query.target = original.target + (original.target.contains("?") ? "&" : "?") + "extra=1"
        #expect(try !Self.verify(query).valid, "changed query accepted")

        var body = original
        body.body += Array("x".utf8)
        #expect(try !Self.verify(body).valid, "changed body accepted")

        for name in claim.signedHeaders where name != "x-amz-date" {
            var header = original
            for i in header.headers.indices where header.headers[i].name.lowercased() == name {
                header.headers[i].value += "x"
            }
            #expect(try !Self.verify(header).valid, "changed \(name) accepted")
        }
    }

    @Test func presignedURLVerifies() throws {
        // A presigned S3 GET computed with the same algorithm botocore uses.
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        let headers: [(name: String, value: String)] = [("Host", "bucket.s3.localhost:4566")]
        let canonical = SigV4.canonicalRequest(
            method: "GET", rawPath: "/key%20one.txt", rawQuery: query, headers: headers, signedHeaders: ["host"],
            payloadHash: SigV4.unsignedPayload, normalizePath: false, presigned: true)
        let key = SigV4.signingKey(secret: Self.secret, date: "20150830", region: "us-east-1", service: "s3")
        let signature = SigV4.signature(
            key: key, stringToSign: SigV4.stringToSign(amzDate: "20150830T123600Z", scope: "20150830/us-east-1/s3/aws4_request", canonicalRequest: canonical))
        let full = ProtocolRequest(method: "GET", target: "/key%20one.txt?" + query + "&X-Amz-Signature=" + signature, headers: headers)
        let claim = try #require(try SigV4.claim(headers: full.headers, query: full.query))
        #expect(claim.isPresigned && claim.expires == 3600 && claim.signature == signature)
        let again = SigV4.canonicalRequest(
            method: "GET", rawPath: "/key%20one.txt", rawQuery: query + "&X-Amz-Signature=" + signature, headers: headers,
            signedHeaders: claim.signedHeaders, payloadHash: SigV4.unsignedPayload, normalizePath: false, presigned: true)
        #expect(again == canonical)
    }
}
