import Foundation
import Logging
import Testing
import KumoCore
import KumoProtocols
@testable import KumoServer
import KumoSTS
import KumoStore

/// The edge in process, without HTTP: resolution, authentication and dispatch.
@Suite struct EdgeTests {
    static func makeEdge(verify: Bool) throws -> (Edge, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-edge-\(UUID().uuidString)").path
        let store = try Store(directory: dir, migrations: STSProvider.migrations)
        let clock = KumoClock()
        let sts = STSProvider(store: store, clock: clock)
        let edge = Edge(
            configuration: EdgeConfiguration(verifySignatures: verify), registry: try ServiceRegistry(providers: [sts]),
            credentials: CredentialChain([try StaticCredentials(defaultAccount: "000000000000"), sts]), clock: clock,
            logger: Logger(label: "test"))
        return (edge, dir)
    }

    static func form(_ body: String, host: String = "sts.localhost", auth: String? = nil) -> EdgeRequest {
        var headers: [(name: String, value: String)] = [("Host", host), ("Content-Type", "application/x-www-form-urlencoded")]
        if let auth { headers.append(("Authorization", auth)) }
        return EdgeRequest(method: "POST", target: "/", headers: headers, body: Array(body.utf8))
    }

    @Test func unsignedRequestsNeedCredentials() async throws {
        let (edge, dir) = try Self.makeEdge(verify: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let answer = await edge.handle(Self.form("Action=GetCallerIdentity&Version=2011-06-15"))
        #expect(answer.service == "sts")
        #expect(answer.response.status == 403)
        #expect(String(decoding: answer.response.body, as: UTF8.self).contains("<Code>MissingAuthenticationToken</Code>"))
        #expect(answer.response.header("x-amzn-RequestId") != nil)
    }

    @Test func noAuthTakesTheAccountFromTheKey() async throws {
        let (edge, dir) = try Self.makeEdge(verify: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let auth = "AWS4-HMAC-SHA256 Credential=123456789012/20250101/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature=00"
        var request = Self.form("Action=GetCallerIdentity&Version=2011-06-15", auth: auth)
        request.headers.append(("X-Amz-Date", "20250101T000000Z"))
        let answer = await edge.handle(request)
        #expect(answer.response.status == 200)
        let xml = try XMLElement.parse(answer.response.body)
        #expect(xml.child("GetCallerIdentityResult")?.child("Account")?.text == "123456789012")
    }

    @Test func virtualHostedBucketsAndServiceHosts() throws {
        let (edge, dir) = try Self.makeEdge(verify: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s3 = edge.resolveService(
            EdgeRequest(method: "GET", target: "/key", headers: [("Host", "my.bucket.s3.localhost:4566")]), query: [], claim: nil)
        #expect(s3?.service == "s3" && s3?.bucket == "my.bucket")
        let sqs = edge.resolveService(
            EdgeRequest(method: "POST", target: "/", headers: [("Host", "sqs.us-east-1.localhost:4566")]), query: [], claim: nil)
        #expect(sqs?.service == "sqs" && sqs?.bucket == nil)
        let cbor = edge.resolveService(
            EdgeRequest(method: "POST", target: "/service/GraniteServiceVersion20100801/operation/ListMetrics", headers: []),
            query: [], claim: nil)
        #expect(cbor?.service == "cloudwatch")
    }
}
