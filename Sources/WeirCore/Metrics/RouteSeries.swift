/// The last minutes of one route, one point per whole second: what the dashboard draws. Kept
/// apart from the measurement windows (which hold two latency histograms per version per second,
/// ~22 KB) as a few numbers per version, in a ring of fixed capacity, so fifteen minutes of every
/// route costs kilobytes.
public struct RouteSeries: Sendable {
    /// One version's second.
    public struct VersionPoint: Sendable, Hashable {
        public var requests: UInt64
        /// Errors of the kinds the route's policy counts.
        public var errors: UInt64
        /// Seconds; nil without requests.
        public var p50: Double?
        public var p99: Double?
        /// The version's traffic weight in percent at the end of the second.
        public var weight: Double

        public init(requests: UInt64, errors: UInt64, p50: Double?, p99: Double?, weight: Double) {
            self.requests = requests
            self.errors = errors
            self.p50 = p50
            self.p99 = p99
            self.weight = weight
        }

        /// The point of one second's statistics under a policy's error kinds.
        public init(_ stats: RequestStats, errorKinds: Set<ErrorKind>, weight: Double) {
            self.init(
                requests: stats.requests, errors: stats.errors(countingAs: errorKinds),
                p50: stats.total.seconds(atPercentile: 50), p99: stats.total.seconds(atPercentile: 99), weight: weight)
        }
    }

    /// One whole second of the route.
    public struct Point: Sendable, Hashable {
        /// Unix time of the second's start, in seconds.
        public var second: Int64
        public var versions: [String: VersionPoint]
        /// The sequential judge's e-value after this second; nil without one.
        public var eValue: Double?

        public init(second: Int64, versions: [String: VersionPoint], eValue: Double?) {
            self.second = second
            self.versions = versions
            self.eValue = eValue
        }
    }

    /// How many seconds are kept.
    public let capacity: Int
    private var ring: [Point] = []
    /// Where the oldest point is once the ring is full.
    private var oldest = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "a series keeps at least one second")
        self.capacity = capacity
        ring.reserveCapacity(capacity)
    }

    /// The newest second held; nil when empty.
    public var lastSecond: Int64? { ring.isEmpty ? nil : ring[(oldest + ring.count - 1) % ring.count].second }

    /// Adds the next second, dropping the oldest when full. A second not after the newest one is
    /// ignored: time only moves forward, so a point is never written twice.
    public mutating func append(_ point: Point) {
        if let last = lastSecond, point.second <= last { return }
        if ring.count < capacity {
            ring.append(point)
        } else {
            ring[oldest] = point
            oldest = (oldest + 1) % capacity
        }
    }

    /// The points of seconds after `since` (all with nil), oldest first.
    public func points(after since: Int64? = nil) -> [Point] {
        var result: [Point] = []
        result.reserveCapacity(ring.count)
        for offset in 0..<ring.count {
            let point = ring[(oldest + offset) % ring.count]
            if let since, point.second <= since { continue }
            result.append(point)
        }
        return result
    }
}
