import KumoCore
import KumoProtocols
import Testing

@testable import KumoRoute53

@Suite struct RoutingTests {
    static func record(_ id: String, _ value: String, _ routing: ShapeValue) -> RecordSetRecord {
        RecordSetRecord(
            zoneId: "Z", name: "www.example.com.", type: "A", setIdentifier: id, ttl: 60, values: [value], alias: nil,
            routing: routing.storageText)
    }

    static func decide(
        _ records: [RecordSetRecord], client: ClientLocations.Location? = nil, unhealthy: Set<String> = [], roll: Int = 0
    ) -> [String] {
        var d = RoutingDecision(client: client, homeRegion: "us-east-1", healthy: { !unhealthy.contains($0) })
        d.random = { min(roll, $0 - 1) }
        return d.choose(records).flatMap(\.values)
    }

    @Test func weightedDrawsInProportionAndSkipsUnhealthy() {
        let sets = [
            Self.record("a", "1", ["Weight": 3, "HealthCheckId": "ha"]), Self.record("b", "2", ["Weight": 1]), Self.record("c", "3", ["Weight": 0]),
        ]
        #expect(Self.decide(sets, roll: 0) == ["1"])
        #expect(Self.decide(sets, roll: 2) == ["1"])
        #expect(Self.decide(sets, roll: 3) == ["2"])
        #expect(Self.decide(sets, unhealthy: ["ha"], roll: 0) == ["2"])
    }

    @Test func failoverPrefersAHealthyPrimary() {
        let sets = [Self.record("p", "1", ["Failover": "PRIMARY", "HealthCheckId": "hp"]), Self.record("s", "2", ["Failover": "SECONDARY", "HealthCheckId": "hs"])]
        #expect(Self.decide(sets) == ["1"])
        #expect(Self.decide(sets, unhealthy: ["hp"]) == ["2"])
        #expect(Self.decide(sets, unhealthy: ["hp", "hs"]) == ["1"])
    }

    @Test func geolocationTakesTheMostSpecificHealthyMatch() {
        let sets = [
            Self.record("de", "de", ["GeoLocation": ["CountryCode": "DE"], "HealthCheckId": "hde"]),
            Self.record("eu", "eu", ["GeoLocation": ["ContinentCode": "EU"]]),
            Self.record("any", "any", ["GeoLocation": ["CountryCode": "*"]]),
        ]
        let berlin = ClientLocations.Location(region: "eu-central-1", continent: "EU", country: "DE")
        let tokyo = ClientLocations.Location(region: "ap-northeast-1", continent: "AS", country: "JP")
        #expect(Self.decide(sets, client: berlin) == ["de"])
        #expect(Self.decide(sets, client: berlin, unhealthy: ["hde"]) == ["eu"])
        #expect(Self.decide(sets, client: tokyo) == ["any"])
        #expect(Self.decide(Array(sets.prefix(2)), client: tokyo) == [])
    }

    @Test func clientLocationsUseTheLongestPrefix() throws {
        let map = try ClientLocations("10.0.0.0/8=us-east-1:NA:US,10.1.0.0/16=eu-west-1:EU:DE")
        #expect(map.locate("10.1.2.3")?.country == "DE")
        #expect(map.locate("10.9.2.3")?.region == "us-east-1")
        #expect(map.locate("192.0.2.1") == nil)
        #expect(throws: ClientLocations.LocationError.self) { try ClientLocations("10.0.0.0/8") }
    }
}
