import Testing

@testable import KumoProtocols

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Timestamps are written as bytes; these pin the text each form gives.
@Suite struct TimestampTextTests {
    /// 2015-01-25T08:00:00Z, a Sunday.
    let sunday = Date(timeIntervalSince1970: 1_422_172_800)

    @Test func wholeSeconds() {
        #expect(Timestamp.iso8601(sunday) == "2015-01-25T08:00:00Z")
        #expect(Timestamp.iso8601Millis(sunday) == "2015-01-25T08:00:00.000Z")
        #expect(Timestamp.iso8601Micros(sunday) == "2015-01-25T08:00:00.000000Z")
        #expect(Timestamp.amzDate(sunday) == "20150125T080000Z")
        #expect(Timestamp.httpDate(sunday) == "Sun, 25 Jan 2015 08:00:00 GMT")
    }

    @Test func fractionsAreRoundedAndNeverCarriedIntoTheNextSecond() {
        let t = sunday.addingTimeInterval(0.186_641)
        #expect(Timestamp.iso8601(t) == "2015-01-25T08:00:00.187Z")
        #expect(Timestamp.iso8601Micros(t) == "2015-01-25T08:00:00.186641Z")
        let late = sunday.addingTimeInterval(0.999_9)
        #expect(Timestamp.iso8601(late) == "2015-01-25T08:00:00Z")
        #expect(Timestamp.iso8601Millis(late) == "2015-01-25T08:00:00.999Z")
    }

    @Test func everyFormParsesBackAcrossYearsAndLeapDays() {
        for seconds in [0, 951_782_400, 1_709_164_800, 4_102_444_799, 253_402_300_799] {
            let date = Date(timeIntervalSince1970: Double(seconds))
            #expect(Timestamp.parseISO8601(Timestamp.iso8601(date)) == date)
            #expect(Timestamp.parseISO8601(Timestamp.amzDate(date)) == date)
            #expect(Timestamp.parseHTTPDate(Timestamp.httpDate(date)) == date)
        }
        // 2000-02-29 and 2024-02-29.
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00Z")
        #expect(Timestamp.httpDate(Date(timeIntervalSince1970: 1_709_164_800)) == "Thu, 29 Feb 2024 00:00:00 GMT")
    }
}
