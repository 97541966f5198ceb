import Testing

@testable import KumoELB

/// The `X-Amzn-Trace-Id` the balancer adds when a request has none.
@Suite struct ForwardTraceTests {
    @Test func aRootHasTheEpochInHexAndRandomDigits() {
        let a = ForwardTrace.newRoot(epoch: 0x5f3a_1b2c)
        let b = ForwardTrace.newRoot(epoch: 0x5f3a_1b2c)
        #expect(a.hasPrefix("Root=1-5f3a1b2c-") && a.utf8.count == 40)
        let random = a.dropFirst(16)
        #expect(random.count == 24 && random.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(a != b)
        #expect(ForwardTrace.newRoot(epoch: 0xa).hasPrefix("Root=1-0000000a-"))
    }
}
