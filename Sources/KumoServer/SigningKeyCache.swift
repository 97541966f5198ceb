import KumoCore
import KumoProtocols
import Synchronization

/// Derived SigV4 signing keys (four HMACs each) by secret, day, region and service:
/// a client signs every request of a day with the same key.
final class SigningKeyCache: Sendable {
    private let keys = Mutex<[String: Hashing.PreparedHMAC]>([:])
    static let limit = 4096

    func key(secret: String, date: String, region: String, service: String) -> Hashing.PreparedHMAC {
        let id = "\(date)/\(region)/\(service)/\(secret)"
        if let k = keys.withLock({ $0[id] }) { return k }
        let k = Hashing.PreparedHMAC(key: SigV4.signingKey(secret: secret, date: date, region: region, service: service))
        keys.withLock { cache in
            if cache.count >= Self.limit { cache.removeAll(keepingCapacity: true) }
            cache[id] = k
        }
        return k
    }
}
