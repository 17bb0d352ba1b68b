/// The last N seconds of one series, one `RequestStats` per second and canary weight the requests
/// were routed under (usually one), from which the rollout engine and the admin API read any
/// window (e.g. "the last interval, after warm-up") and the sequential judge each second's slices.
public struct SlidingWindow: Sendable {
    public let capacitySeconds: Int
    /// Ascending by second; at most one entry per second and routed weight.
    private var buckets: [(second: Int64, weight: Int, stats: RequestStats)] = []
    /// Everything ever recorded, for counters that never reset.
    public private(set) var lifetimeRequests: UInt64 = 0
    public private(set) var lifetimeErrorsByKind: [UInt64] = Array(repeating: 0, count: ErrorKind.count)

    public init(capacitySeconds: Int) {
        precondition(capacitySeconds > 0)
        self.capacitySeconds = capacitySeconds
    }

    /// Adds one second's statistics of requests routed under canary weight `weight` (merging
    /// with what that second and weight hold already) and drops seconds that fell out of the window.
    public mutating func add(second: Int64, weight: Int = 0, stats: RequestStats) {
        lifetimeRequests += stats.requests
        for kind in ErrorKind.allCases { lifetimeErrorsByKind[kind.index] += stats.errors(of: kind) }
        // The insertion point after every bucket of an earlier or the same second (almost always
        // the end), merging into this second's bucket of the same weight when there is one.
        var position = buckets.endIndex
        while position > buckets.startIndex, buckets[position - 1].second > second { position -= 1 }
        var same = position
        while same > buckets.startIndex, buckets[same - 1].second == second {
            same -= 1
            if buckets[same].weight == weight {
                buckets[same].stats.merge(stats)
                return trim()
            }
        }
        buckets.insert((second, weight, stats), at: position)
        trim()
    }

    private mutating func trim() {
        guard let newest = buckets.last?.second else { return }
        while let first = buckets.first, first.second <= newest - Int64(capacitySeconds) {
            buckets.removeFirst()
        }
    }

    /// One second's statistics by the canary weight (basis points) its requests were routed under.
    public func slices(second: Int64) -> [Int: RequestStats] {
        var slices: [Int: RequestStats] = [:]
        for bucket in buckets.reversed() {
            if bucket.second < second { break }
            if bucket.second == second { slices[bucket.weight, default: RequestStats()].merge(bucket.stats) }
        }
        return slices
    }

    /// Every bucket of the seconds in `[from, to)`, oldest first.
    public func buckets(from: Int64, to: Int64) -> [(second: Int64, weight: Int, stats: RequestStats)] {
        buckets.filter { $0.second >= from && $0.second < to }
    }

    /// The merged statistics of the seconds in `[from, to)`.
    public func stats(from: Int64, to: Int64) -> RequestStats {
        var result = RequestStats()
        for bucket in buckets where bucket.second >= from && bucket.second < to {
            result.merge(bucket.stats)
        }
        return result
    }
}
