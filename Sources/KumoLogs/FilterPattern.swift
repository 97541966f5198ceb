import KumoCore
import KumoProtocols
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// CloudWatch Logs filter patterns: terms that must all appear (`ERROR timeout`), quoted
/// phrases (`"user not found"`), excluded terms (`-DEBUG`), and JSON patterns
/// (`{ $.level = "error" && $.ms > 100 }`) on JSON messages.
struct FilterPattern {
    enum Kind {
        case all
        case terms(include: [String], exclude: [String])
        case json([(path: [String], op: String, value: String)])
    }

    let kind: Kind

    init(_ text: String?) {
        let pattern = (text ?? "").trimmingSpaces
        if pattern.isEmpty {
            kind = .all
        } else if pattern.hasPrefix("{"), pattern.hasSuffix("}") {
            let body = String(pattern.dropFirst().dropLast())
            kind = .json(body.split(separator: "&&").map(String.init).compactMap(Self.condition))
        } else {
            var include: [String] = [], exclude: [String] = []
            for term in Self.terms(pattern) {
                if term.hasPrefix("-"), term.count > 1 { exclude.append(String(term.dropFirst())) } else { include.append(term) }
            }
            kind = .terms(include: include, exclude: exclude)
        }
    }

    func matches(_ message: String) -> Bool {
        switch kind {
        case .all: return true
        case .terms(let include, let exclude):
            return include.allSatisfy { message.contains($0) } && !exclude.contains { message.contains($0) }
        case .json(let conditions):
            guard let json = try? JSONValue.parse(Array(message.utf8)) else { return false }
            return conditions.allSatisfy { c in
                var v: JSONValue? = json
                for p in c.path { v = v?[p] }
                guard let v else { return c.op == "!=" }
                let text: String
                switch v {
                case .string(let s): text = s
                case .number(let n): text = n
                case .bool(let b): text = b ? "true" : "false"
                default: return false
                }
                switch c.op {
                case "=": return Wildcard.matches(c.value, text)
                case "!=": return !Wildcard.matches(c.value, text)
                default:
                    guard let a = Double(text), let b = Double(c.value) else { return false }
                    switch c.op {
                    case ">": return a > b
                    case "<": return a < b
                    case ">=": return a >= b
                    case "<=": return a <= b
                    default: return false
                    }
                }
            }
        }
    }

    /// `$.a.b = "x"` → (["a", "b"], "=", "x").
    static func condition(_ text: String) -> (path: [String], op: String, value: String)? {
        let t = text.trimmingSpaces
        for op in ["!=", ">=", "<=", "=", ">", "<"] {
            let parts = t.split(separator: op, maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let left = parts[0].trimmingSpaces
            var right = parts[1].trimmingSpaces
            guard left.hasPrefix("$.") else { return nil }
            if right.hasPrefix("\""), right.hasSuffix("\""), right.count >= 2 { right = String(right.dropFirst().dropLast()) }
            return (left.dropFirst(2).split(separator: ".").map(String.init), op, right)
        }
        return nil
    }

    /// Space-separated terms, with "quoted phrases" kept whole.
    static func terms(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        for ch in text {
            if ch == "\"" {
                if quoted { out.append(current); current = "" }
                quoted.toggle()
            } else if ch == " " && !quoted {
                if !current.isEmpty { out.append(current) }
                current = ""
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
