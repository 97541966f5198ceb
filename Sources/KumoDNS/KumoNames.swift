public import KumoCore

/// Kumo's own host names (`<bucket>.s3.localhost`, `sqs.localhost`, ...: everything under the
/// host suffix) answer with the edge's address; every other name goes to Route 53.
public struct KumoNames: DNSAnswerSource {
    let suffix: String
    let edgeAddress: String
    let zones: any DNSAnswerSource

    public init(suffix: String, edgeAddress: String, zones: any DNSAnswerSource) {
        self.suffix = suffix.lowercased().hasSuffix(".") ? suffix.lowercased() : suffix.lowercased() + "."
        self.edgeAddress = edgeAddress
        self.zones = zones
    }

    public func answer(name: String, type: String, client: DNSClient) async -> DNSAnswer {
        if let own = own(name: name, type: type) { return own }
        return await zones.answer(name: name, type: type, client: client)
    }

    public func answerNow(name: String, type: String, client: DNSClient) -> DNSAnswerNow? {
        // Kumo's own names answer the same to everyone, always (read the version first: it
        // may only be older than the answer, never newer).
        if let own = own(name: name, type: type) { return DNSAnswerNow(own, version: zones.answersVersion) }
        return zones.answerNow(name: name, type: type, client: client)
    }

    public var answersVersion: UInt64 { zones.answersVersion }

    /// The answer for a name under the host suffix; nil for any other name.
    func own(name: String, type: String) -> DNSAnswer? {
        let n = name.lowercased()
        guard n == suffix || n.hasSuffix("." + suffix) else { return nil }
        let isV6 = edgeAddress.contains(":")
        let soa = DNSRecordSet(
            name: suffix, type: "SOA", ttl: 60, values: ["ns-1.kumo.\(suffix) hostmaster.kumo.\(suffix) 1 7200 900 1209600 60"])
        guard type == (isV6 ? "AAAA" : "A") || type == "ANY" else { return .noData(soa: soa) }
        return .records([DNSRecordSet(name: n, type: isV6 ? "AAAA" : "A", ttl: 60, values: [edgeAddress])])
    }
}
