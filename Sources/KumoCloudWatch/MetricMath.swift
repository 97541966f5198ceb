/// CloudWatch metric math: expressions over the time series of a GetMetricData request (or
/// of a metric math alarm). Supported: numbers, query ids, `+ - * /` with precedence and
/// parentheses, arrays `[m1, m2]`, `METRICS()` / `METRICS("text")`, `SUM`, `AVG`, `MIN`, `MAX`
/// (of one series: a scalar; of an array: a series across them), and `FILL(series, value |
/// REPEAT | LINEAR)`.
enum MetricMath {
    typealias Series = [Double: Double]

    indirect enum Expr: Equatable {
        case number(Double)
        case ref(String)
        case text(String)
        case keyword(String)
        case array([Expr])
        case call(String, [Expr])
        case negate(Expr)
        case binary(Character, Expr, Expr)
    }

    enum Value: Equatable {
        case scalar(Double)
        case series(Series)
        case array([Series])
    }

    struct Failure: Error, Equatable {
        let message: String
    }

    // MARK: parsing

    static func parse(_ text: String) throws(Failure) -> Expr {
        var p = Parser(chars: Array(text))
        let e = try p.sum()
        p.skipSpaces()
        guard p.at == p.chars.count else { throw Failure(message: "Unexpected '\(p.chars[p.at])' at position \(p.at + 1) of the expression.") }
        return e
    }

    struct Parser {
        let chars: [Character]
        var at = 0

        mutating func skipSpaces() { while at < chars.count, chars[at] == " " { at += 1 } }

        mutating func sum() throws(Failure) -> Expr {
            var left = try product()
            while true {
                skipSpaces()
                guard at < chars.count, chars[at] == "+" || chars[at] == "-" else { return left }
                let op = chars[at]
                at += 1
                left = .binary(op, left, try product())
            }
        }

        mutating func product() throws(Failure) -> Expr {
            var left = try unary()
            while true {
                skipSpaces()
                guard at < chars.count, chars[at] == "*" || chars[at] == "/" else { return left }
                let op = chars[at]
                at += 1
                left = .binary(op, left, try unary())
            }
        }

        mutating func unary() throws(Failure) -> Expr {
            skipSpaces()
            if at < chars.count, chars[at] == "-" {
                at += 1
                return .negate(try unary())
            }
            return try primary()
        }

        mutating func primary() throws(Failure) -> Expr {
            skipSpaces()
            guard at < chars.count else { throw Failure(message: "The expression ends too early.") }
            let c = chars[at]
            if c == "(" {
                at += 1
                let e = try sum()
                try expect(")")
                return e
            }
            if c == "[" {
                at += 1
                let items = try list(until: "]")
                return .array(items)
            }
            if c == "\"" {
                at += 1
                var s = ""
                while at < chars.count, chars[at] != "\"" {
                    s.append(chars[at])
                    at += 1
                }
                try expect("\"")
                return .text(s)
            }
            if c.isNumber || c == "." {
                var s = ""
                while at < chars.count, chars[at].isNumber || chars[at] == "." || chars[at] == "e" || chars[at] == "E" {
                    s.append(chars[at])
                    at += 1
                }
                guard let v = Double(s) else { throw Failure(message: "'\(s)' is not a number.") }
                return .number(v)
            }
            if c.isLetter || c == "_" {
                var s = ""
                while at < chars.count, chars[at].isLetter || chars[at].isNumber || chars[at] == "_" {
                    s.append(chars[at])
                    at += 1
                }
                skipSpaces()
                if at < chars.count, chars[at] == "(" {
                    at += 1
                    return .call(s.uppercased(), try list(until: ")"))
                }
                if s == "REPEAT" || s == "LINEAR" { return .keyword(s) }
                return .ref(s)
            }
            throw Failure(message: "Unexpected '\(c)' at position \(at + 1) of the expression.")
        }

        mutating func list(until close: Character) throws(Failure) -> [Expr] {
            var items: [Expr] = []
            skipSpaces()
            if at < chars.count, chars[at] == close {
                at += 1
                return items
            }
            while true {
                items.append(try sum())
                skipSpaces()
                guard at < chars.count else { throw Failure(message: "Missing '\(close)' in the expression.") }
                if chars[at] == "," {
                    at += 1
                    continue
                }
                try expect(close)
                return items
            }
        }

        mutating func expect(_ c: Character) throws(Failure) {
            skipSpaces()
            guard at < chars.count, chars[at] == c else { throw Failure(message: "Missing '\(c)' in the expression.") }
            at += 1
        }
    }

    // MARK: evaluation

    /// Evaluates an expression: `resolve` gives the value of a query id, `metrics` the series
    /// of the request's metric queries by id (for `METRICS()`), `grid` every period start.
    static func evaluate(
        _ e: Expr, resolve: (String) throws(Failure) -> Value, metrics: [(id: String, series: Series)], grid: [Double]
    ) throws(Failure) -> Value {
        func eval(_ e: Expr) throws(Failure) -> Value { try evaluate(e, resolve: resolve, metrics: metrics, grid: grid) }
        switch e {
        case .number(let v): return .scalar(v)
        case .ref(let id): return try resolve(id)
        case .text, .keyword: throw Failure(message: "A text or keyword argument is only allowed in METRICS() and FILL().")
        case .array(let items):
            var out: [Series] = []
            for item in items {
                switch try eval(item) {
                case .series(let s): out.append(s)
                case .array(let a): out += a
                case .scalar: throw Failure(message: "An array may only hold time series.")
                }
            }
            return .array(out)
        case .negate(let inner): return try combine(.scalar(-1), try eval(inner), "*")
        case .binary(let op, let l, let r): return try combine(try eval(l), try eval(r), op)
        case .call(let name, let args):
            switch name {
            case "METRICS":
                var filter: String?
                if case .text(let t)? = args.first { filter = t }
                return .array(metrics.filter { filter == nil || $0.id.contains(filter!) }.map(\.series))
            case "SUM", "AVG", "MIN", "MAX":
                guard args.count == 1 else { throw Failure(message: "\(name) takes one argument.") }
                return try reduce(name, try eval(args[0]))
            case "FILL":
                guard args.count == 2 else { throw Failure(message: "FILL takes two arguments.") }
                let how = args[1]
                func fill(_ s: Series) throws(Failure) -> Series {
                    switch how {
                    case .keyword("REPEAT"): return repeatFill(s, grid)
                    case .keyword("LINEAR"): return linearFill(s, grid)
                    default:
                        guard case .scalar(let v) = try eval(how) else { throw Failure(message: "FILL's second argument must be a number, REPEAT or LINEAR.") }
                        var out = s
                        for t in grid where out[t] == nil { out[t] = v }
                        return out
                    }
                }
                switch try eval(args[0]) {
                case .series(let s): return .series(try fill(s))
                case .array(let a):
                    var out: [Series] = []
                    for s in a { out.append(try fill(s)) }
                    return .array(out)
                case .scalar(let v): return .scalar(v)
                }
            default:
                throw Failure(message: "Kumo does not evaluate the metric math function \(name) yet.")
            }
        }
    }

    static func reduce(_ name: String, _ value: Value) throws(Failure) -> Value {
        func fold(_ values: [Double]) -> Double? {
            guard !values.isEmpty else { return nil }
            switch name {
            case "SUM": return values.reduce(0, +)
            case "AVG": return values.reduce(0, +) / Double(values.count)
            case "MIN": return values.min()
            default: return values.max()
            }
        }
        switch value {
        case .scalar(let v): return .scalar(v)
        case .series(let s): return .scalar(fold(Array(s.values)) ?? .nan)
        case .array(let a):
            var out: Series = [:]
            for t in Set(a.flatMap(\.keys)) { out[t] = fold(a.compactMap { $0[t] }) }
            return .series(out)
        }
    }

    static func combine(_ l: Value, _ r: Value, _ op: Character) throws(Failure) -> Value {
        func apply(_ a: Double, _ b: Double) -> Double {
            switch op {
            case "+": a + b
            case "-": a - b
            case "*": a * b
            default: a / b
            }
        }
        func withScalar(_ s: Series, _ v: Double, scalarFirst: Bool) -> Series { s.mapValues { scalarFirst ? apply(v, $0) : apply($0, v) } }
        switch (l, r) {
        case (.scalar(let a), .scalar(let b)): return .scalar(apply(a, b))
        case (.series(let s), .scalar(let v)): return .series(withScalar(s, v, scalarFirst: false))
        case (.scalar(let v), .series(let s)): return .series(withScalar(s, v, scalarFirst: true))
        case (.series(let a), .series(let b)):
            var out: Series = [:]
            for (t, x) in a { if let y = b[t] { out[t] = apply(x, y) } }
            return .series(out)
        case (.array(let a), .scalar(let v)): return .array(a.map { withScalar($0, v, scalarFirst: false) })
        case (.scalar(let v), .array(let a)): return .array(a.map { withScalar($0, v, scalarFirst: true) })
        default: throw Failure(message: "Arithmetic between arrays of time series is not supported.")
        }
    }

    static func repeatFill(_ s: Series, _ grid: [Double]) -> Series {
        var out = s
        var last: Double?
        for t in grid {
            if let v = s[t] { last = v } else if let last { out[t] = last }
        }
        // Points before the first value take the first value.
        if let first = grid.first(where: { s[$0] != nil }).flatMap({ s[$0] }) {
            for t in grid where out[t] == nil { out[t] = first }
        }
        return out
    }

    static func linearFill(_ s: Series, _ grid: [Double]) -> Series {
        var out = s
        let known = grid.filter { s[$0] != nil }
        for t in grid where s[t] == nil {
            guard let before = known.last(where: { $0 < t }), let after = known.first(where: { $0 > t }) else { continue }
            let (a, b) = (s[before]!, s[after]!)
            out[t] = a + (b - a) * (t - before) / (after - before)
        }
        return out
    }
}
