import KumoCore
import KumoProtocols

/// The routing policy members of a record set, read from its stored form.
struct Routing: Sendable, Equatable {
    var weight: Int?
    var failover: String?
    var region: String?
    var continent: String?
    var country: String?
    var subdivision: String?
    var isGeo = false
    var multiValue: Bool?
    var healthCheckId: String?

    /// The members of a `ResourceRecordSet` that make up its routing policy.
    static let members = ["Weight", "Failover", "Region", "GeoLocation", "MultiValueAnswer", "HealthCheckId"]
    /// The members that each name a policy (only one may be given).
    static let policies = ["Weight", "Region", "Failover", "GeoLocation", "MultiValueAnswer", "GeoProximityLocation", "CidrRoutingConfig"]

    init(_ value: ShapeValue) {
        weight = value["Weight"]?.int
        failover = value["Failover"]?.string
        region = value["Region"]?.string
        if let geo = value["GeoLocation"] {
            isGeo = true
            continent = geo["ContinentCode"]?.string
            country = geo["CountryCode"]?.string
            subdivision = geo["SubdivisionCode"]?.string
        }
        multiValue = value["MultiValueAnswer"]?.bool
        healthCheckId = value["HealthCheckId"]?.string
    }

    init(storageText: String?) {
        self.init(storageText.map { ShapeValue(storageText: $0) } ?? .empty)
    }

    /// The policy's name in Route 53's messages ("weighted", "failover"...); nil for simple.
    var policy: String? {
        if weight != nil { return "weighted" }
        if failover != nil { return "failover" }
        if region != nil { return "latency" }
        if isGeo { return "geolocation" }
        if multiValue == true { return "multivalue answer" }
        return nil
    }
}

/// Where a DNS client is, for latency and geolocation routing: `--dns-client-locations`
/// maps address blocks to an AWS region and a continent, country and subdivision
/// (`10.1.0.0/16=eu-west-1:EU:DE,10.2.0.0/16=us-west-2:NA:US:CA`). The longest matching
/// block wins. Clients outside every block have no location: latency routing answers with
/// the record of Kumo's own region, geolocation routing with the default (`*`) record.
public struct ClientLocations: Sendable {
    public struct Location: Sendable, Equatable {
        public var region: String
        public var continent: String?
        public var country: String?
        public var subdivision: String?
    }

    let entries: [(block: CIDR, location: Location)]

    public init() { entries = [] }

    /// Parses the flag's text; throws a message naming the bad entry.
    public init(_ text: String) throws(LocationError) {
        var entries: [(CIDR, Location)] = []
        for item in text.split(separator: ",") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let block = CIDR(String(parts[0])) else { throw LocationError(entry: String(item)) }
            let fields = parts[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard let region = fields.first, !region.isEmpty, fields.count <= 4 else { throw LocationError(entry: String(item)) }
            func field(_ i: Int) -> String? { fields.count > i && !fields[i].isEmpty ? fields[i].uppercased() : nil }
            entries.append((block, Location(region: region, continent: field(1), country: field(2), subdivision: field(3))))
        }
        self.entries = entries.sorted { $0.0.prefix > $1.0.prefix }
    }

    public struct LocationError: Error, Sendable {
        public let entry: String
    }

    func locate(_ address: String?) -> Location? {
        guard let address else { return nil }
        return entries.first { $0.block.contains(address) }?.location
    }
}

/// Route 53's routing policies: which of the record sets that share a name and type answer a
/// query. `healthy` says whether a health check passes (nil: unknown, counted as healthy).
struct RoutingDecision {
    let client: ClientLocations.Location?
    /// Kumo's region: where latency routing sends clients it cannot place.
    let homeRegion: String
    let healthy: (String) -> Bool?
    var random: (Int) -> Int = { Int.random(in: 0..<$0) }

    /// Whether an alias with EvaluateTargetHealth has a healthy target (true when not known).
    var aliasHealthy: (RecordSetRecord) -> Bool = { _ in true }

    func isHealthy(_ r: (record: RecordSetRecord, routing: Routing)) -> Bool {
        if let id = r.routing.healthCheckId, healthy(id) == false { return false }
        if r.record.alias != nil, !aliasHealthy(r.record) { return false }
        return true
    }

    /// The record sets to answer with, out of all those of one name and type.
    func choose(_ records: [RecordSetRecord]) -> [RecordSetRecord] {
        guard records.contains(where: { !$0.setIdentifier.isEmpty }) else { return records }
        let routed = records.map { ($0, Routing(storageText: $0.routing)) }
        switch routed.first?.1.policy {
        case "weighted": return weighted(routed)
        case "failover": return failover(routed)
        case "latency": return latency(routed)
        case "geolocation": return geolocation(routed)
        case "multivalue answer": return multiValue(routed)
        default: return records
        }
    }

    /// One record, drawn in proportion to the weights of the healthy ones; zero weights only
    /// when every weighted record is unhealthy; all count as healthy when none is.
    func weighted(_ routed: [(record: RecordSetRecord, routing: Routing)]) -> [RecordSetRecord] {
        let healthy = routed.filter(isHealthy)
        let pool = healthy.isEmpty ? routed : healthy
        let weighted = pool.filter { ($0.routing.weight ?? 0) > 0 }
        if weighted.isEmpty { return pool.isEmpty ? [] : [pool[random(pool.count)].record] }
        var roll = random(weighted.reduce(0) { $0 + ($1.routing.weight ?? 0) })
        for r in weighted {
            roll -= r.routing.weight ?? 0
            if roll < 0 { return [r.record] }
        }
        return [weighted[weighted.count - 1].record]
    }

    /// The primary while it is healthy, else a healthy secondary; the primary when neither is.
    func failover(_ routed: [(record: RecordSetRecord, routing: Routing)]) -> [RecordSetRecord] {
        let primary = routed.first { $0.routing.failover == "PRIMARY" }
        let secondary = routed.first { $0.routing.failover == "SECONDARY" }
        if let primary, isHealthy(primary) { return [primary.record] }
        if let secondary, isHealthy(secondary) { return [secondary.record] }
        return [(primary ?? secondary)?.record].compactMap { $0 }
    }

    /// The healthy record of the client's region; else one in the same part of the world
    /// (`eu-`, `us-`, `ap-`...), else Kumo's own region, else the first healthy one.
    func latency(_ routed: [(record: RecordSetRecord, routing: Routing)]) -> [RecordSetRecord] {
        let healthy = routed.filter(isHealthy)
        let pool = healthy.isEmpty ? routed : healthy
        let region = client?.region ?? homeRegion
        let area = region.split(separator: "-").first.map(String.init) ?? region
        let pick = pool.first { $0.routing.region == region }
            ?? pool.first { ($0.routing.region ?? "").hasPrefix(area + "-") }
            ?? pool.first { $0.routing.region == homeRegion }
            ?? pool.first
        return [pick?.record].compactMap { $0 }
    }

    /// The most specific healthy match: subdivision, then country, then continent, then the
    /// default (`*`). No match and no default: no answer.
    func geolocation(_ routed: [(record: RecordSetRecord, routing: Routing)]) -> [RecordSetRecord] {
        var tiers: [(RecordSetRecord, Routing) -> Bool] = []
        if let client {
            if let country = client.country, let sub = client.subdivision {
                tiers.append { $1.country == country && $1.subdivision == sub }
            }
            if let country = client.country { tiers.append { $1.country == country && $1.subdivision == nil } }
            if let continent = client.continent { tiers.append { $1.continent == continent } }
        }
        tiers.append { $1.country == "*" }
        for tier in tiers {
            if let match = routed.first(where: { tier($0.record, $0.routing) && isHealthy($0) }) { return [match.record] }
        }
        return []
    }

    /// Up to eight healthy records, in random order; up to eight of all when none is healthy.
    func multiValue(_ routed: [(record: RecordSetRecord, routing: Routing)]) -> [RecordSetRecord] {
        let healthy = routed.filter(isHealthy)
        var pool = (healthy.isEmpty ? routed : healthy).map(\.record)
        var out: [RecordSetRecord] = []
        while !pool.isEmpty && out.count < 8 { out.append(pool.remove(at: random(pool.count))) }
        return out
    }
}
