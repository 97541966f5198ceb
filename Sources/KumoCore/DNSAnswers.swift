/// Record sets as Route 53 stores them (`A`, values `["192.0.2.1"]`), for the DNS server.
public struct DNSRecordSet: Sendable, Equatable {
    public var name: String
    public var type: String
    public var ttl: UInt32
    public var values: [String]

    public init(name: String, type: String, ttl: UInt32, values: [String]) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.values = values
    }
}

/// What an authoritative source says about a name and type.
public enum DNSAnswer: Sendable, Equatable {
    /// The records (a CNAME in place of other types is returned as the answer).
    case records([DNSRecordSet])
    /// The name exists but has no records of this type; the zone's SOA for negative caching.
    case noData(soa: DNSRecordSet)
    /// The name does not exist in the zone.
    case nxDomain(soa: DNSRecordSet)
    /// Not a zone this server is authoritative for.
    case refused
}

/// Where the DNS server finds answers (Route 53's hosted zones); lets the DNS data plane
/// and the Route 53 API live in separate modules.
public protocol DNSAnswerSource: Sendable {
    func answer(name: String, type: String) async -> DNSAnswer
}
