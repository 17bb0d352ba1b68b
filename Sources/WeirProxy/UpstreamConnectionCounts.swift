/// How many connections the data plane holds to one upstream: open ones (pooled, in use, or a
/// shared HTTP/2 connection) and, of those, HTTP/1.1 ones resting idle in a pool.
public struct UpstreamConnectionCounts: Sendable, Hashable {
    public var open: Int
    public var idle: Int

    public init(open: Int, idle: Int) {
        self.open = open
        self.idle = idle
    }

    mutating func add(_ other: UpstreamConnectionCounts) {
        open += other.open
        idle += other.idle
    }
}
