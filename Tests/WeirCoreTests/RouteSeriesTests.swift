import Testing
import WeirCore

@Suite struct RouteSeriesTests {
    func point(_ second: Int64, requests: UInt64 = 1, eValue: Double? = nil) -> RouteSeries.Point {
        RouteSeries.Point(
            second: second,
            versions: ["v1": RouteSeries.VersionPoint(requests: requests, errors: 0, p50: nil, p99: nil, weight: 100)],
            eValue: eValue)
    }

    @Test func keepsTheNewestSecondsUpToItsCapacityOldestFirst() {
        var series = RouteSeries(capacity: 3)
        #expect(series.points().isEmpty)
        #expect(series.lastSecond == nil)
        for second in Int64(10)...14 { series.append(point(second)) }
        #expect(series.points().map(\.second) == [12, 13, 14])
        #expect(series.lastSecond == 14)
        series.append(point(20))
        #expect(series.points().map(\.second) == [13, 14, 20])
    }

    @Test func neverWritesASecondTwiceOrGoesBack() {
        var series = RouteSeries(capacity: 5)
        series.append(point(7, requests: 1))
        series.append(point(7, requests: 99))
        series.append(point(6, requests: 99))
        #expect(series.points().map(\.second) == [7])
        #expect(series.points().first?.versions["v1"]?.requests == 1)
    }

    @Test func answersOnlyTheSecondsAfterTheOneAskedFor() {
        var series = RouteSeries(capacity: 4)
        for second in Int64(1)...6 { series.append(point(second, eValue: Double(second))) }
        #expect(series.points(after: 4).map(\.second) == [5, 6])
        #expect(series.points(after: 6).isEmpty)
        #expect(series.points(after: 0).map(\.second) == [3, 4, 5, 6])
        #expect(series.points(after: 5).first?.eValue == 6)
    }

    @Test func aVersionsSecondCountsOnlyThePolicysErrorKinds() throws {
        var stats = RequestStats()
        for _ in 0..<8 {
            stats.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: nil, totalNanos: 10_000_000))
        }
        stats.record(RequestOutcome(status: 503, failure: nil, firstByteNanos: nil, totalNanos: 50_000_000))
        stats.record(RequestOutcome(status: 404, failure: nil, firstByteNanos: nil, totalNanos: 1_000_000))
        let point = RouteSeries.VersionPoint(stats, errorKinds: [.http5xx], weight: 20)
        #expect(point.requests == 10)
        #expect(point.errors == 1)
        #expect(point.weight == 20)
        let p50 = try #require(point.p50)
        let p99 = try #require(point.p99)
        #expect(abs(p50 - 0.010) < 0.0002)
        #expect(abs(p99 - 0.050) < 0.001)
        let empty = RouteSeries.VersionPoint(RequestStats(), errorKinds: [.http5xx], weight: 0)
        #expect(empty.p50 == nil && empty.p99 == nil && empty.requests == 0)
    }
}
