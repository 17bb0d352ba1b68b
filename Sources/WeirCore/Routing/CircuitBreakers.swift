/// Per-upstream bounds (Envoy's circuit breakers), so one route's burst — or one HTTP/2 client with
/// hundreds of streams — cannot open unbounded connections to a model server. Past a bound a request
/// is answered `503` at once with kind `overflow` instead of queueing without end.
///
/// Each event loop keeps its own share (the bound divided by the loop count, at least 1), so the
/// request path takes no lock.
public struct CircuitBreakers: Sendable, Hashable {
    /// Connections open to the upstream (pooled, in use, or being dialled).
    public var maxConnections: Int
    /// Requests waiting for a connection once `maxConnections` are open.
    public var maxPending: Int
    /// Requests in flight to the upstream (HTTP/1.1 exchanges or HTTP/2 streams) plus those queued
    /// for a connection: the bound on everything one upstream can hold at once.
    public var maxRequests: Int

    /// Envoy's defaults.
    public init(maxConnections: Int = 1024, maxPending: Int = 1024, maxRequests: Int = 1024) {
        self.maxConnections = maxConnections
        self.maxPending = maxPending
        self.maxRequests = maxRequests
    }

    /// One event loop's share of each bound.
    public func share(ofLoops loops: Int) -> CircuitBreakers {
        let loops = max(1, loops)
        func part(_ total: Int) -> Int { max(1, (total + loops - 1) / loops) }
        return CircuitBreakers(
            maxConnections: part(maxConnections), maxPending: part(maxPending), maxRequests: part(maxRequests))
    }
}
