/// The last N seconds of one series, one `RequestStats` per second, from which the rollout
/// engine and the admin API read any window (e.g. "the last interval, after warm-up").
public struct SlidingWindow: Sendable {
    public let capacitySeconds: Int
    /// Ascending by second; at most one entry per second.
    private var buckets: [(second: Int64, stats: RequestStats)] = []
    /// Everything ever recorded, for counters that never reset.
    public private(set) var lifetimeRequests: UInt64 = 0
    public private(set) var lifetimeErrorsByKind: [UInt64] = Array(repeating: 0, count: ErrorKind.count)

    public init(capacitySeconds: Int) {
        precondition(capacitySeconds > 0)
        self.capacitySeconds = capacitySeconds
    }

    /// Adds one second's statistics (merging when that second is already present) and drops
    /// seconds that fell out of the window.
    public mutating func add(second: Int64, stats: RequestStats) {
        lifetimeRequests += stats.requests
        for kind in ErrorKind.allCases { lifetimeErrorsByKind[kind.index] += stats.errors(of: kind) }
        if let last = buckets.indices.last, buckets[last].second == second {
            buckets[last].stats.merge(stats)
        } else if let position = buckets.firstIndex(where: { $0.second >= second }) {
            if buckets[position].second == second {
                buckets[position].stats.merge(stats)
            } else {
                buckets.insert((second, stats), at: position)
            }
        } else {
            buckets.append((second, stats))
        }
        guard let newest = buckets.last?.second else { return }
        while let first = buckets.first, first.second <= newest - Int64(capacitySeconds) {
            buckets.removeFirst()
        }
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
