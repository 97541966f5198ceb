import Testing

@testable import KumoCloudWatch

@Suite struct MetricMathTests {
    static let m1: MetricMath.Series = [0: 1, 60: 2, 180: 4]
    static let m2: MetricMath.Series = [0: 10, 60: 20, 120: 30, 180: 40]
    static let grid: [Double] = [0, 60, 120, 180]

    func eval(_ text: String) throws -> MetricMath.Value {
        let values: [String: MetricMath.Value] = ["m1": .series(Self.m1), "m2": .series(Self.m2)]
        return try MetricMath.evaluate(
            try MetricMath.parse(text),
            resolve: { id throws(MetricMath.Failure) in
                guard let v = values[id] else { throw MetricMath.Failure(message: "unknown \(id)") }
                return v
            },
            metrics: [("m1", Self.m1), ("m2", Self.m2)], grid: Self.grid)
    }

    @Test func arithmeticFollowsPrecedenceAndMatchesTimestamps() throws {
        #expect(try eval("1 + 2 * 3") == .scalar(7))
        #expect(try eval("-(1 + 2) / 3") == .scalar(-1))
        #expect(try eval("m1 * 100 / m2") == .series([0: 10, 60: 10, 180: 10]))
        #expect(try eval("m2 - m1") == .series([0: 9, 60: 18, 180: 36]))
    }

    @Test func aggregatesOfOneSeriesAreScalarsOfArraysAreSeries() throws {
        #expect(try eval("SUM(m1)") == .scalar(7))
        #expect(try eval("AVG(m2)") == .scalar(25))
        #expect(try eval("SUM(METRICS())") == .series([0: 11, 60: 22, 120: 30, 180: 44]))
        #expect(try eval("MAX([m1, m2])") == .series([0: 10, 60: 20, 120: 30, 180: 40]))
        #expect(try eval("MIN(METRICS(\"m1\"))") == .series(Self.m1))
    }

    @Test func fillFillsTheGaps() throws {
        #expect(try eval("FILL(m1, 0)") == .series([0: 1, 60: 2, 120: 0, 180: 4]))
        #expect(try eval("FILL(m1, REPEAT)") == .series([0: 1, 60: 2, 120: 2, 180: 4]))
        #expect(try eval("FILL(m1, LINEAR)") == .series([0: 1, 60: 2, 120: 3, 180: 4]))
    }

    @Test func badExpressionsSayWhy() {
        #expect(throws: MetricMath.Failure.self) { try MetricMath.parse("m1 +") }
        #expect(throws: MetricMath.Failure.self) { try MetricMath.parse("SUM(m1") }
        #expect(throws: MetricMath.Failure.self) { try MetricMath.parse("m1 $ 2") }
        #expect(throws: MetricMath.Failure.self) { try eval("ANOMALY_DETECTION_BAND(m1)") }
        #expect(throws: MetricMath.Failure.self) { try eval("m3 + 1") }
    }
}
