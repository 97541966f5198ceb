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
    /// The name is in a subdomain the zone delegates: the delegation's NS records, and the
    /// addresses of those name servers that the zone holds (glue).
    case referral(ns: DNSRecordSet, glue: [DNSRecordSet])
    /// Not a zone this server is authoritative for.
    case refused
}

/// Who asks a DNS question: the query's source address and, when the query carries the EDNS
/// Client Subnet option (RFC 7871), the subnet of the client the resolver asks for. Routing
/// by location (latency, geolocation) uses the subnet when there is one.
public struct DNSClient: Sendable, Equatable {
    public var address: String?
    public var subnet: String?
    public var subnetPrefix: Int

    public init(address: String? = nil, subnet: String? = nil, subnetPrefix: Int = 0) {
        self.address = address
        self.subnet = subnet
        self.subnetPrefix = subnetPrefix
    }

    /// The address that stands for the client's location.
    public var locatingAddress: String? { subnet ?? address }
}

/// An answer given from what a source holds in memory.
public struct DNSAnswerNow: Sendable, Equatable {
    public var answer: DNSAnswer
    /// Set when this answer is the same for every client for as long as the source's
    /// `answersVersion` is this number (no routing policy, health check or alias target was
    /// consulted), so the DNS server may reuse the reply; nil when it was chosen for this
    /// client or this moment.
    public var version: UInt64?

    public init(_ answer: DNSAnswer, version: UInt64? = nil) {
        self.answer = answer
        self.version = version
    }
}

/// Where the DNS server finds answers (Route 53's hosted zones); lets the DNS data plane
/// and the Route 53 API live in separate modules.
public protocol DNSAnswerSource: Sendable {
    func answer(name: String, type: String, client: DNSClient) async -> DNSAnswer
    /// The answer when it can be given without waiting (from what is in memory), else nil;
    /// the DNS server asks this on the event loop before it falls back to `answer`.
    func answerNow(name: String, type: String, client: DNSClient) -> DNSAnswerNow?
    /// Changes whenever what the source answers may have changed (a write to the zones).
    var answersVersion: UInt64 { get }
}

extension DNSAnswerSource {
    public func answerNow(name: String, type: String, client: DNSClient) -> DNSAnswerNow? { nil }
    public var answersVersion: UInt64 { 0 }
}
