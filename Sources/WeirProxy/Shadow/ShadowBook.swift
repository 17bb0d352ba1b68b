import Synchronization
import WeirCore

/// Every route's shadow results, shared by the event loops (which add comparisons, off the client's
/// path) and read by the admin API, `/metrics` and the rollout engine. One lock per mirrored request.
public final class ShadowBook: Sendable {
    /// A pair of answers that disagreed, kept for `weirctl diff` (redacted, shortened).
    public struct Disagreement: Sendable, Hashable {
        /// Unix milliseconds.
        public var at: Int64
        /// A short digest of the request (method, path, body hash): the same input gives the same digest.
        public var request: String
        public var stable: String
        public var shadow: String
        /// What differs (a path, or the two values).
        public var detail: String
    }

    private struct Route {
        var tally = ShadowTally()
        var recent: [Disagreement] = []
    }

    public static let kept = 50
    private let routes = Mutex<[String: Route]>([:])

    public init() {}

    func record(route: String, candidate: OutputComparator.Outcome, noise: OutputComparator.Outcome?, pair: Disagreement?) {
        routes.withLock { routes in
            routes[route, default: Route()].tally.record(candidate: candidate, noise: noise)
            if let pair {
                routes[route]!.recent.append(pair)
                if routes[route]!.recent.count > Self.kept { routes[route]!.recent.removeFirst() }
            }
        }
    }

    func recordShed(route: String) { routes.withLock { $0[route, default: Route()].tally.recordShed() } }
    func recordError(route: String) { routes.withLock { $0[route, default: Route()].tally.recordError() } }

    /// The route's results so far; nil when it never mirrored.
    public func tally(route: String) -> ShadowTally? { routes.withLock { $0[route]?.tally } }

    /// The latest disagreeing pairs, newest first.
    public func disagreements(route: String, limit: Int) -> [Disagreement] {
        routes.withLock { Array(($0[route]?.recent ?? []).reversed().prefix(limit)) }
    }

    /// Starts the route's results afresh (a new shadow version or a reload that changed the comparison).
    public func reset(route: String) { routes.withLock { $0[route] = nil } }
}
