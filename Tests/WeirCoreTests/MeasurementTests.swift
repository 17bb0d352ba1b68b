import Testing
import WeirCore

@Suite struct MeasurementTests {
    func outcome(status: Int? = 200, failure: ErrorKind? = nil, millis: UInt64) -> RequestOutcome {
        RequestOutcome(
            status: status, failure: failure, firstByteNanos: millis * 500_000, totalNanos: millis * 1_000_000)
    }

    @Test func classifiesOutcomesIntoOneErrorKind() {
        #expect(outcome(status: 503, millis: 1).errorKind == .http5xx)
        #expect(outcome(status: 429, millis: 1).errorKind == .http429)
        #expect(outcome(status: 404, millis: 1).errorKind == .http4xx)
        #expect(outcome(status: 200, millis: 1).errorKind == nil)
        #expect(outcome(status: nil, failure: .timeout, millis: 1).errorKind == .timeout)
    }

    @Test func statsCountErrorsByTheKindsAPolicyNames() {
        var stats = RequestStats()
        for _ in 0..<90 { stats.record(outcome(millis: 5)) }
        for _ in 0..<5 { stats.record(outcome(status: 500, millis: 5)) }
        for _ in 0..<3 { stats.record(outcome(status: 429, millis: 5)) }
        for _ in 0..<2 { stats.record(outcome(status: nil, failure: .connect, millis: 5)) }
        #expect(stats.requests == 100)
        #expect(stats.errors(countingAs: [.http5xx, .connect]) == 7)
        #expect(stats.errorRate(countingAs: [.http5xx, .connect, .http429]) == 0.10)
        #expect(stats.errorRate(countingAs: []) == 0)
    }

    @Test func latencyQuantilesAreWithinOnePercent() {
        var stats = RequestStats()
        for millis in 1...1000 { stats.record(outcome(millis: UInt64(millis))) }
        let p50 = try! #require(stats.total.seconds(atPercentile: 50))
        let p99 = try! #require(stats.total.seconds(atPercentile: 99))
        #expect(abs(p50 - 0.500) / 0.500 < 0.01)
        #expect(abs(p99 - 0.990) / 0.990 < 0.01)
        let ttfb99 = try! #require(stats.firstByte.seconds(atPercentile: 99))
        #expect(abs(ttfb99 - 0.495) / 0.495 < 0.01)
        #expect(RequestStats().total.seconds(atPercentile: 99) == nil)
    }

    @Test func recorderDrainsOnlyFinishedSeconds() {
        var recorder = PerSecondRecorder()
        let a = SeriesID(rawValue: 0)
        let b = SeriesID(rawValue: 3)
        recorder.record(outcome(millis: 1), series: a, second: 10)
        recorder.record(outcome(millis: 1), series: a, second: 10)
        recorder.record(outcome(millis: 1), series: b, second: 10)
        recorder.record(outcome(millis: 1), series: a, second: 11)
        let drained = recorder.drain(before: 11)
        #expect(drained.count == 2)
        #expect(drained.first { $0.series == a }?.stats.requests == 2)
        #expect(drained.first { $0.series == b }?.stats.requests == 1)
        #expect(recorder.drain(before: 11).isEmpty)
        let later = recorder.drain(before: 12)
        #expect(later.count == 1 && later[0].second == 11 && later[0].stats.requests == 1)
    }

    @Test func slidingWindowAnswersAnyRangeAndForgetsOldSeconds() {
        var window = SlidingWindow(capacitySeconds: 10)
        for second in Int64(0)..<20 {
            var stats = RequestStats()
            for _ in 0..<Int(second + 1) { stats.record(outcome(millis: 1)) }
            window.add(second: second, stats: stats)
        }
        // Seconds 10...19 remain: requests 11...20.
        #expect(window.stats(from: 0, to: 100).requests == (11...20).reduce(0, +))
        #expect(window.stats(from: 15, to: 17).requests == 16 + 17)
        #expect(window.lifetimeRequests == (1...20).reduce(0, +))
        // A late piece of an existing second merges into it.
        var late = RequestStats()
        late.record(outcome(millis: 1))
        window.add(second: 15, stats: late)
        #expect(window.stats(from: 15, to: 16).requests == 17)
    }
}
