import KumoProtocols
import NIOCore
import Synchronization

/// A response kept by an edge location.
struct CachedObject: Sendable {
    var distributionId: String
    /// The request path (percent-encoded, without query), which invalidation paths match.
    var path: String
    var status: Int
    var headers: [(name: String, value: String)]
    var body: ByteBuffer
    var storedAt: ContinuousClock.Instant
    /// How long it is fresh, and how long after that it may still be served (stale-while-revalidate,
    /// stale-if-error), in real time (already scaled by the clock).
    var ttl: Duration
    var staleWhileRevalidate: Duration
    var staleIfError: Duration
    /// An error response kept for the error caching TTL; never revalidated.
    var isError: Bool
    /// Whether it may be kept and shared (not `no-store`/`private` with a zero minimum TTL...).
    var cacheable: Bool

    var size: Int { body.readableBytes + headers.reduce(256) { $0 + $1.name.utf8.count + $1.value.utf8.count } }

    func age(at now: ContinuousClock.Instant) -> Duration { now - storedAt }
    func isFresh(at now: ContinuousClock.Instant) -> Bool { age(at: now) < ttl }

    func header(_ name: String) -> String? { headers.first { $0.name.caseInsensitiveEquals(name) }?.value }
}

/// One edge location's cache: bounded by bytes, least recently used out first.
final class EdgeCache: Sendable {
    /// A doubly linked list over dictionary entries, kept inside the lock.
    private struct State {
        var entries: [String: Node] = [:]
        var head: Node?
        var tail: Node?
        var bytes = 0
        var evictions = 0
    }

    private final class Node {
        let key: String
        var object: CachedObject
        var prev: Node?
        var next: Node?
        init(key: String, object: CachedObject) {
            self.key = key
            self.object = object
        }
    }

    let name: String
    let budget: Int
    private let state = Mutex(State())

    init(name: String, budget: Int) {
        self.name = name
        self.budget = budget
    }

    func get(_ key: String) -> CachedObject? {
        state.withLock { s in
            guard let node = s.entries[key] else { return nil }
            Self.moveToFront(&s, node)
            return node.object
        }
    }

    func put(_ key: String, _ object: CachedObject) {
        guard object.size <= budget else { return }
        state.withLock { s in
            if let old = s.entries[key] {
                s.bytes -= old.object.size
                Self.unlink(&s, old)
            }
            let node = Node(key: key, object: object)
            s.entries[key] = node
            Self.linkFront(&s, node)
            s.bytes += object.size
            while s.bytes > budget, let last = s.tail {
                Self.unlink(&s, last)
                s.entries[last.key] = nil
                s.bytes -= last.object.size
                s.evictions += 1
            }
        }
    }

    /// Drops entries of a distribution whose path matches one of the invalidation paths
    /// (exact, or a prefix when the path ends in `*`); nil paths drop them all.
    @discardableResult
    func remove(distribution: String, paths: [String]?) -> Int {
        state.withLock { s in
            var dropped = 0
            for (key, node) in s.entries where node.object.distributionId == distribution {
                let path = node.object.path
                let matches = paths?.contains { p in p.hasSuffix("*") ? path.hasPrefix(p.dropLast()) : path == p || Self.decoded(path) == p } ?? true
                guard matches else { continue }
                Self.unlink(&s, node)
                s.entries[key] = nil
                s.bytes -= node.object.size
                dropped += 1
            }
            return dropped
        }
    }

    func removeAll() {
        state.withLock { s in
            // Unlink every node so the list's references do not keep them alive.
            while let node = s.head { Self.unlink(&s, node) }
            s.entries = [:]
            s.bytes = 0
        }
    }

    var usage: (bytes: Int, objects: Int, evictions: Int) { state.withLock { ($0.bytes, $0.entries.count, $0.evictions) } }

    private static func decoded(_ path: String) -> String { FormEncoding.unescape(Substring(path), plus: false) }

    private static func unlink(_ s: inout State, _ node: Node) {
        if let p = node.prev { p.next = node.next } else { s.head = node.next }
        if let n = node.next { n.prev = node.prev } else { s.tail = node.prev }
        node.prev = nil
        node.next = nil
    }

    private static func linkFront(_ s: inout State, _ node: Node) {
        node.next = s.head
        s.head?.prev = node
        s.head = node
        if s.tail == nil { s.tail = node }
    }

    private static func moveToFront(_ s: inout State, _ node: Node) {
        guard s.head !== node else { return }
        unlink(&s, node)
        linkFront(&s, node)
    }
}
