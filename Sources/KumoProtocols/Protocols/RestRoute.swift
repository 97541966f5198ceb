/// An operation's `requestUri` template (`/{Bucket}/{Key+}?uploads`) compiled for matching.
final class RestRoute: Sendable {
    enum Segment: Sendable {
        case literal(String)
        /// A label, possibly with literal text around it inside the segment.
        case label(name: String, prefix: String, suffix: String)
        case greedy(name: String, prefix: String)
    }

    let operation: String
    let method: String
    let segments: [Segment]
    /// Query parameters the template requires (`?uploads`, `?list-type=2`).
    let queryLiterals: [(name: String, value: String?)]
    /// Headers the operation's input requires: a request without them is another operation.
    let requiredHeaders: [String]
    /// Query parameters the input requires beyond the template's (`uploadId`).
    let requiredQuery: [String]

    let deprecated: Bool

    init(_ op: ServiceModel.Operation, requiredHeaders: [String] = [], requiredQuery: [String] = [], deprecated: Bool = false) {
        self.deprecated = deprecated
        self.requiredHeaders = requiredHeaders
        self.requiredQuery = requiredQuery
        operation = op.name
        method = op.method
        let parts = op.requestUri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        segments = Self.split(String(parts[0])).map { seg in
            guard let open = seg.firstIndex(of: "{"), let close = seg.firstIndex(of: "}"), open < close else {
                return .literal(seg)
            }
            var name = String(seg[seg.index(after: open)..<close])
            let prefix = String(seg[..<open])
            if name.hasSuffix("+") {
                name.removeLast()
                return .greedy(name: name, prefix: prefix)
            }
            return .label(name: name, prefix: prefix, suffix: String(seg[seg.index(after: close)...]))
        }
        queryLiterals =
            parts.count > 1
            ? parts[1].split(separator: "&").map { item in
                if let eq = item.firstIndex(of: "=") {
                    return (String(item[..<eq]), String(item[item.index(after: eq)...]))
                }
                return (String(item), nil)
            } : []
        specificity = Self.specificity(
            queryLiterals: queryLiterals.count, required: requiredHeaders.count + requiredQuery.count, deprecated: deprecated, segments: segments)
    }

    /// Path segments without the leading slash; `/` is no segments, a trailing slash leaves a final empty one.
    static func split(_ path: String) -> [String] {
        var p = Substring(path)
        if p.hasPrefix("/") { p = p.dropFirst() }
        if p.isEmpty { return [] }
        return p.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    }

    /// Higher is more specific: required query parameters first, then literal path text.
    let specificity: Int

    static func specificity(queryLiterals: Int, required: Int, deprecated: Bool, segments: [Segment]) -> Int {
        var score = queryLiterals * 10_000 + required * 1_000 - (deprecated ? 1 : 0)
        for s in segments {
            switch s {
            case .literal(let l): score += 100 + l.count
            case .label(_, let p, let s): score += 50 + p.count + s.count
            case .greedy: score += 1
            }
        }
        return score
    }

    /// The decoded labels when the request matches this route.
    func match(
        method: String, path: [String], query: [(name: String, value: String)], headers: [(name: String, value: String)]? = nil
    ) -> [String: String]? {
        guard method == self.method else { return nil }
        if let headers {
            for h in requiredHeaders where !headers.contains(where: { $0.name.caseInsensitiveEquals(h) }) { return nil }
            for q in requiredQuery where !query.contains(where: { $0.name == q }) { return nil }
        }
        for lit in queryLiterals {
            guard let v = query.first(where: { $0.name == lit.name }) else { return nil }
            if let want = lit.value, v.value != want { return nil }
        }
        var labels: [String: String] = [:]
        var i = 0
        for (n, seg) in segments.enumerated() {
            switch seg {
            case .literal(let l):
                guard i < path.count, path[i] == l else {
                    // A template's trailing slash may be left off by the client.
                    if l.isEmpty && n == segments.count - 1 && i == path.count { continue }
                    return nil
                }
                i += 1
            case .label(let name, let prefix, let suffix):
                guard i < path.count, path[i].count > prefix.count + suffix.count, path[i].hasPrefix(prefix),
                    path[i].hasSuffix(suffix)
                else { return nil }
                let raw = path[i].dropFirst(prefix.count).dropLast(suffix.count)
                labels[name] = FormEncoding.unescape(raw, plus: false)
                i += 1
            case .greedy(let name, let prefix):
                guard i < path.count else { return nil }
                let rest = path[i...].joined(separator: "/")
                guard rest.count > prefix.count, rest.hasPrefix(prefix) else { return nil }
                labels[name] = FormEncoding.unescape(Substring(rest.dropFirst(prefix.count)), plus: false)
                i = path.count
            }
        }
        // Allow one trailing empty segment (a trailing slash) the template does not have.
        if i == path.count - 1 && path[i].isEmpty { i += 1 }
        return i == path.count ? labels : nil
    }
}

/// A rest operation matched by a request, with the request's URI labels.
public struct RestMatch: Sendable {
    public var operation: String
    public var labels: [String: String]
}

extension ServiceModel {
    /// The rest operation a request addresses, with its URI labels.
    public func matchRoute(
        method: String, path: String, query: [(name: String, value: String)], headers: [(name: String, value: String)]? = nil
    ) -> RestMatch? {
        let segments = RestRoute.split(path)
        for route in restRoutesByMethod[method] ?? [] {
            if let labels = route.match(method: method, path: segments, query: query, headers: headers) {
                return RestMatch(operation: route.operation, labels: labels)
            }
        }
        return nil
    }

    func route(for operation: String) -> RestRoute? { restRoutes.first { $0.operation == operation } }
}

extension ServiceModel {
    /// Whether the operation's input payload is a streaming blob.
    public func streamsInput(_ name: String) -> Bool { streamingInputOperations.contains(name) }

    static func streamsInput(_ operation: Operation, shapes: [String: Shape]) -> Bool {
        guard let inputRef = operation.input, let input = shapes[inputRef.shape], let payload = input.payload,
            let ref = input.member(named: payload), let target = shapes[ref.shape]
        else { return false }
        return target.type == .blob && (ref.streaming || target.streaming)
    }
}
