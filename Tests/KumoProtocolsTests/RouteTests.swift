import KumoModels
import Testing

@testable import KumoProtocols

@Test func cloudFrontListDistributionsRoutes() throws {
    let model = try ServiceModel(bytes: try ModelFiles.model("cloudfront"))
    let hits = model.restRoutes.filter { $0.match(method: "GET", path: RestRoute.split("/2020-05-31/distribution"), query: [], headers: []) != nil }
    #expect(hits.map(\.operation) == ["ListDistributions"])
    #expect(model.matchRoute(method: "GET", path: "/2020-05-31/distribution", query: [], headers: [])?.operation == "ListDistributions")
}
