import KumoCore
import Testing

/// Counters: one per series, atomic adds from many threads, and no series for what was never counted.
@Suite struct ServiceMetricsTests {
    let key = MetricKey(namespace: "AWS/ApplicationELB", name: "RequestCount", dimensions: [("LoadBalancer", "app/web/1")])

    @Test func aSeriesIsReportedOnlyOnceSomethingWasAdded() async {
        let metrics = ServiceMetrics()
        let counter = metrics.counter(key)
        #expect(await metrics.collect().counters.isEmpty)
        counter.add(0)
        let collected = await metrics.collect().counters
        #expect(collected.count == 1 && collected[0].0 == key && collected[0].1 == 0)
    }

    @Test func addsFromManyTasksAllCount() async {
        let metrics = ServiceMetrics()
        let counter = metrics.counter(key)
        #expect(metrics.counter(key) === counter)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<10_000 { counter.add(0.5) }
                }
            }
        }
        metrics.add(1, to: key)
        let collected = await metrics.collect().counters
        #expect(collected.count == 1 && collected[0].1 == 40_001)
    }
}
