/// The rule of a composite alarm: `ALARM(name)`, `OK(name)`, `INSUFFICIENT_DATA(name)` (names
/// bare or quoted, or alarm ARNs), `TRUE`, `FALSE`, `NOT`, `AND`, `OR` and parentheses; AND
/// binds tighter than OR.
indirect enum AlarmRule: Equatable {
    case state(String, alarm: String)
    case constant(Bool)
    case not(AlarmRule)
    case and(AlarmRule, AlarmRule)
    case or(AlarmRule, AlarmRule)

    struct Failure: Error, Equatable { let message: String }

    /// The alarm names the rule reads (ARNs reduced to the name).
    var alarms: [String] {
        switch self {
        case .state(_, let a): [a]
        case .constant: []
        case .not(let r): r.alarms
        case .and(let a, let b), .or(let a, let b): a.alarms + b.alarms
        }
    }

    func evaluate(_ state: (String) -> String?) -> Bool {
        switch self {
        case .state(let s, let a): state(a) == s
        case .constant(let b): b
        case .not(let r): !r.evaluate(state)
        case .and(let a, let b): a.evaluate(state) && b.evaluate(state)
        case .or(let a, let b): a.evaluate(state) || b.evaluate(state)
        }
    }

    static func parse(_ text: String) throws(Failure) -> AlarmRule {
        var tokens = try tokenize(text)
        tokens.reverse()
        let rule = try or(&tokens)
        guard tokens.isEmpty else { throw Failure(message: "Unexpected '\(tokens.last!)' in the alarm rule.") }
        return rule
    }

    private static func tokenize(_ text: String) throws(Failure) -> [String] {
        var out: [String] = []
        var chars = Array(text)[...]
        while let c = chars.first {
            if c == " " || c == "\n" || c == "\t" {
                chars = chars.dropFirst()
            } else if c == "(" || c == ")" {
                out.append(String(c))
                chars = chars.dropFirst()
            } else if c == "\"" {
                chars = chars.dropFirst()
                guard let close = chars.firstIndex(of: "\"") else { throw Failure(message: "An alarm name in the rule is missing its closing quote.") }
                out.append("\"" + String(chars[..<close]))
                chars = chars[chars.index(after: close)...]
            } else {
                let word = chars.prefix { !" \n\t()\"".contains($0) }
                out.append(String(word))
                chars = chars.dropFirst(word.count)
            }
        }
        return out
    }

    private static func or(_ t: inout [String]) throws(Failure) -> AlarmRule {
        var left = try and(&t)
        while t.last == "OR" {
            t.removeLast()
            left = .or(left, try and(&t))
        }
        return left
    }

    private static func and(_ t: inout [String]) throws(Failure) -> AlarmRule {
        var left = try unary(&t)
        while t.last == "AND" {
            t.removeLast()
            left = .and(left, try unary(&t))
        }
        return left
    }

    private static func unary(_ t: inout [String]) throws(Failure) -> AlarmRule {
        guard let token = t.popLast() else { throw Failure(message: "The alarm rule ends too early.") }
        switch token {
        case "NOT": return .not(try unary(&t))
        case "TRUE": return .constant(true)
        case "FALSE": return .constant(false)
        case "(":
            let inner = try or(&t)
            guard t.popLast() == ")" else { throw Failure(message: "Missing ')' in the alarm rule.") }
            return inner
        case "ALARM", "OK", "INSUFFICIENT_DATA":
            guard t.popLast() == "(", let name = t.popLast(), name != ")", t.popLast() == ")" else {
                throw Failure(message: "\(token) needs one alarm name in parentheses.")
            }
            let bare = name.hasPrefix("\"") ? String(name.dropFirst()) : name
            // An ARN names the alarm after its last `:alarm:`.
            let alarm = bare.split(separator: ":").count >= 7 ? String(bare.split(separator: ":", maxSplits: 6)[6]) : bare
            return .state(token, alarm: alarm)
        default:
            throw Failure(message: "Unexpected '\(token)' in the alarm rule.")
        }
    }
}
