import Testing
import WeirCore

/// A fleet instance's stored second must sum to the same figures the instance saw.
@Suite struct RequestStatsRecordTests {
    @Test func aStoredSecondDecodesToTheSameCountsAndPercentiles() throws {
        var stats = RequestStats()
        var random = SplitMix64(seed: 7)
        for index in 0..<5_000 {
            let micros = 200 + random.next() % 400_000
            stats.record(
                RequestOutcome(
                    status: index % 50 == 0 ? 503 : 200, failure: index % 77 == 0 ? .reset : nil,
                    firstByteNanos: micros * 500, totalNanos: micros * 1_000))
        }
        let text = RequestStatsRecord(stats).encoded()
        #expect(text.utf8.count < 40_000, "a second's record is \(text.utf8.count) bytes")
        let decoded = try #require(RequestStatsRecord(encoded: text)?.stats)
        #expect(decoded.requests == stats.requests)
        #expect(decoded.errorsByKind == stats.errorsByKind)
        for percentile in [50.0, 90, 99, 99.9] {
            #expect(decoded.total.seconds(atPercentile: percentile) == stats.total.seconds(atPercentile: percentile))
            #expect(
                decoded.firstByte.seconds(atPercentile: percentile) == stats.firstByte.seconds(atPercentile: percentile)
            )
        }
        // Merging decoded seconds is merging the originals.
        var twice = decoded
        twice.merge(decoded)
        #expect(twice.requests == 2 * stats.requests)
        #expect(twice.total.seconds(atPercentile: 99) == stats.total.seconds(atPercentile: 99))
    }

    @Test(arguments: ["", "{}", #"{"r":1,"e":[0],"f":[[5]],"t":[]}"#, #"{"r":1,"e":[],"f":[],"t":[[5,99999999999]]}"#])
    func aDamagedRecordIsRefusedNotGuessedAt(text: String) {
        #expect(RequestStatsRecord(encoded: text)?.stats?.requests == nil)
    }
}
