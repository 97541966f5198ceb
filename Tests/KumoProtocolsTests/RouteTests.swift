import KumoModels
import Testing

@testable import KumoProtocols

@Test func cloudFrontListDistributionsRoutes() throws {
    let model = try ServiceModel(bytes: try ModelFiles.model("cloudfront"))
    let hits = model.restRoutes.filter { $0.match(method: "GET", path: RestRoute.split("/2020-05-31/distribution"), query: [], headers: []) != nil }
    #expect(hits.map(\.operation) == ["ListDistributions"])
    #expect(model.matchRoute(method: "GET", path: "/2020-05-31/distribution", query: [], headers: [])?.operation == "ListDistributions")
}

@Suite struct ServerCertificateTests {
    let site = ServerCertificate(arn: "a", chainPEM: "", privateKeyPEM: "", names: ["example.com", "*.example.com"])
    let other = ServerCertificate(arn: "b", chainPEM: "", privateKeyPEM: "", names: ["api.example.org"])

    @Test func aWildcardCoversExactlyOneLabel() {
        #expect(site.covers("example.com") && site.covers("WWW.example.com"))
        #expect(!site.covers("a.b.example.com") && !site.covers("example.org") && !site.covers("badexample.com"))
    }

    @Test func sniPicksTheCoveringCertificateElseTheDefault() {
        let tls = ServerTLS(certificates: [site, other])
        #expect(tls.certificate(for: "api.example.org")?.arn == "b")
        #expect(tls.certificate(for: "shop.example.com")?.arn == "a")
        #expect(tls.certificate(for: "unknown.test")?.arn == "a")
        #expect(tls.certificate(for: nil)?.arn == "a")
    }
}
