import NIOCore
import WeirCore

/// One version as a given event loop sees it: its series for measurement, the loop's pools for its
/// upstreams, and the round-robin cursor. Rebuilt (pools reused) whenever a new table is installed.
final class LoopVersion {
    let name: String
    let series: SeriesID
    let upstreams: [UpstreamPool]
    private var selector = UpstreamSelector()

    init(name: String, series: SeriesID, upstreams: [UpstreamPool]) {
        self.name = name
        self.series = series
        self.upstreams = upstreams
    }

    /// The next upstream by `UpstreamSelector` (round robin, ejected ones skipped), avoiding
    /// `avoiding` (the upstream a retry moves away from) when there is another.
    func nextUpstream(at now: UInt64, avoiding: UpstreamPool? = nil) -> UpstreamPool {
        let upstreams = self.upstreams
        let index = selector.next(
            count: upstreams.count, avoiding: avoiding.flatMap { pool in upstreams.firstIndex { $0 === pool } },
            isEjected: { upstreams[$0].health.isEjected(at: now) })
        return upstreams[index]
    }
}

/// One route compiled for a loop: the definition, the current split, and its versions. A class, so
/// a request holds it with one reference count rather than copying the whole definition.
final class LoopRoute {
    let definition: RouteDefinition
    let split: TrafficSplit
    let versions: [LoopVersion]
    let timeout: TimeAmount

    init(definition: RouteDefinition, split: TrafficSplit, versions: [LoopVersion], timeout: TimeAmount) {
        self.definition = definition
        self.split = split
        self.versions = versions
        self.timeout = timeout
    }

    /// The version a request's override header names, if any.
    func overrideIndex(for value: String?) -> Int? {
        guard let value else { return nil }
        return versions.firstIndex { $0.name == value }
    }
}

@available(*, unavailable)
extension LoopRoute: Sendable {}

/// The routing table as one event loop uses it. Replaced whole when the rollout engine publishes a
/// new `RoutingTable`; never mutated in place, so a request sees one consistent set of weights.
struct LoopRoutes {
    let table: RoutingTable
    let routes: [LoopRoute]

    static var empty: LoopRoutes { LoopRoutes(table: RoutingTable(routes: [], splits: [], generation: 0), routes: []) }
}
