import KumoCore
public import KumoProtocols
import KumoModels
import Synchronization

/// Every service Kumo knows: the bundled models' index, the providers that
/// implement them, and the models themselves, loaded on first use.
public final class ServiceRegistry: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var protocols: [WireProtocolName]
        public var signingName: String
        public var endpointPrefix: String
        public var targetPrefix: String?
        public var operations: Set<String>
    }

    let index: Index
    public var entries: [String: Entry] { index.entries }
    public var botocoreVersion: String { index.botocoreVersion }
    let providers: [String: any ServiceProvider]
    private let models = Mutex<[String: ServiceModel]>([:])

    /// What the bundled models' index says: read once, before the providers exist if need be
    /// (start-up reads it while the store opens).
    public struct Index: Sendable {
        let botocoreVersion: String
        let entries: [String: Entry]
        let bySigningName: [String: String]
        let byTargetPrefix: [String: String]
        let byEndpointPrefix: [String: String]

        public static func load() throws -> Index {
            let index = try JSONValue.parse(try ModelFiles.index())
            var entries: [String: Entry] = [:]
            for (name, e) in index["services"]?.object ?? [] {
                entries[name] = Entry(
                    name: name,
                    protocols: (e["protocols"]?.array ?? []).compactMap { $0.string.flatMap(WireProtocolName.init(rawValue:)) },
                    signingName: e["signingName"]?.string ?? name,
                    endpointPrefix: e["endpointPrefix"]?.string ?? name,
                    targetPrefix: e["targetPrefix"]?.string,
                    operations: Set((e["operations"]?.array ?? []).compactMap(\.string)))
            }
            var bySigning: [String: String] = [:]
            var byTarget: [String: String] = [:]
            var byEndpoint: [String: String] = [:]
            for (name, e) in entries.sorted(by: { $0.key < $1.key }) {
                bySigning[e.signingName] = bySigning[e.signingName] ?? name
                if let t = e.targetPrefix { byTarget[t] = name }
                byEndpoint[e.endpointPrefix] = byEndpoint[e.endpointPrefix] ?? name
            }
            return Index(
                botocoreVersion: index["botocore"]?.string ?? "?", entries: entries, bySigningName: bySigning, byTargetPrefix: byTarget,
                byEndpointPrefix: byEndpoint)
        }
    }

    public init(providers: [any ServiceProvider], index: Index? = nil) throws {
        self.index = try index ?? Index.load()
        self.providers = Dictionary(providers.map { ($0.service, $0) }, uniquingKeysWith: { $1 })
    }

    public func provider(_ service: String) -> (any ServiceProvider)? { providers[service] }
    public var providerNames: [String] { providers.keys.sorted() }

    /// The service's model, parsed the first time it is asked for.
    public func model(_ service: String) throws -> ServiceModel {
        if let m = models.withLock({ $0[service] }) { return m }
        let model = try ServiceModel(bytes: try ModelFiles.model(service))
        models.withLock { $0[service] = model }
        return model
    }

    public func service(signingName: String) -> String? { index.bySigningName[signingName] }
    public func service(targetPrefix: String) -> String? { index.byTargetPrefix[targetPrefix] }
    public func service(endpointPrefix: String) -> String? { index.byEndpointPrefix[endpointPrefix] ?? index.bySigningName[endpointPrefix] }

    /// The query-protocol service that has an operation called `action`, when only one does.
    public func service(action: String) -> String? {
        let matches = entries.values.filter {
            $0.operations.contains(action) && ($0.protocols.contains(.query) || $0.protocols.contains(.ec2))
        }
        if matches.count == 1 { return matches[0].name }
        return matches.first { providers[$0.name] != nil }?.name
    }
}
