/// Per-second buckets of `RequestStats`, one open bucket per series, written by exactly one
/// thread (an event loop) and emptied by a collector that merges them into `SlidingWindow`s.
/// A bucket also holds the canary weight its requests were *routed* under, so a request routed
/// at 5 % that finishes after the step to 10 % counts at 5 % (the judge needs each request's ρ).
///
/// Recording touches only this value: no lock, and no allocation but one bucket per series,
/// second and routed weight (two weights interleave only for the requests in flight when a
/// weight changes).
public struct PerSecondRecorder: Sendable {
    /// One second of one series.
    public struct Bucket: Sendable {
        public var series: SeriesID
        public var second: Int64
        /// The route's canary weight, in basis points, when these requests were routed.
        public var weight: Int
        public var stats: RequestStats
    }

    private var open: [Bucket?] = []
    private var finished: [Bucket] = []

    public init() {}

    /// Records an outcome at `second` (seconds on the monotonic clock the collector uses too) for
    /// a request routed under canary weight `weight` (basis points).
    public mutating func record(_ outcome: RequestOutcome, series: SeriesID, second: Int64, weight: Int = 0) {
        let index = series.rawValue
        if index >= open.count { open.append(contentsOf: repeatElement(nil, count: index - open.count + 1)) }
        // Compare through the optional without binding a copy: a copy would make the in-place
        // record below copy the histograms.
        if open[index]?.second == second && open[index]?.weight == weight {
            open[index]!.stats.record(outcome)
            return
        }
        if let previous = open[index].take() { finished.append(previous) }
        var stats = RequestStats()
        stats.record(outcome)
        open[index] = Bucket(series: series, second: second, weight: weight, stats: stats)
    }

    /// Takes every bucket of a second earlier than `second` (those can no longer change).
    public mutating func drain(before second: Int64) -> [Bucket] {
        var out = finished
        finished.removeAll(keepingCapacity: true)
        for index in open.indices {
            if let bucket = open[index], bucket.second < second {
                out.append(bucket)
                open[index] = nil
            }
        }
        return out
    }

}
