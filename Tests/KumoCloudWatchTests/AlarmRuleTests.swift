import Testing

@testable import KumoCloudWatch

@Suite struct AlarmRuleTests {
    @Test func parsesAndEvaluatesWithPrecedence() throws {
        let rule = try AlarmRule.parse(#"ALARM("cpu high") OR ALARM(disk) AND NOT OK(arn:aws:cloudwatch:us-east-1:000000000000:alarm:mem)"#)
        #expect(rule.alarms == ["cpu high", "disk", "mem"])
        let states = ["cpu high": "OK", "disk": "ALARM", "mem": "ALARM"]
        #expect(rule.evaluate { states[$0] })
        #expect(!rule.evaluate { ["cpu high": "OK", "disk": "ALARM", "mem": "OK"][$0] })
        #expect(try AlarmRule.parse("(TRUE OR FALSE) AND NOT FALSE").evaluate { _ in nil })
    }

    @Test func rejectsBrokenRules() {
        for bad in ["ALARM(", "ALARM(a", "ALARM(a) AND", "MAYBE(a)", "ALARM(a) ALARM(b)", #"ALARM("a)"#] {
            #expect(throws: AlarmRule.Failure.self) { try AlarmRule.parse(bad) }
        }
    }
}
