import NIOCore
import NIOHTTP1
import WeirCore

/// One version as a given event loop sees it: its series for measurement, the loop's pools for its
/// upstreams, and the round-robin cursor. Rebuilt (pools reused) whenever a new table is installed.
final class LoopVersion {
    let name: String
    let series: SeriesID
    /// Where pinned requests are measured: apart, so no verdict reads them.
    let pinnedSeries: SeriesID
    let upstreams: [UpstreamPool]
    private var selector = UpstreamSelector()

    init(name: String, series: VersionSeries, upstreams: [UpstreamPool]) {
        self.name = name
        self.series = series.weighted
        self.pinnedSeries = series.pinned
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
    /// `RouteDefinition.pinHeaders`, computed once rather than per request.
    let pinHeaders: [String]

    init(definition: RouteDefinition, split: TrafficSplit, versions: [LoopVersion], timeout: TimeAmount) {
        self.definition = definition
        self.split = split
        self.versions = versions
        self.timeout = timeout
        self.pinHeaders = definition.pinHeaders
    }

    /// Removes weir's pinning headers (and the secret) from a request head or its trailers:
    /// never forwarded, believed or not. Touches the storage only when one is present.
    func removePinHeaders(from headers: inout HTTPHeaders) {
        for name in pinHeaders where headers.contains(name: name) { headers.remove(name: name) }
    }

    /// The version a request is pinned to: only where the route takes an override, the pin is
    /// believed from this client (`OverrideRule.believes`), names a configured version and that
    /// version may serve now. Nil otherwise — the request is then routed by the weights.
    func pinnedIndex(headers: HTTPHeaders, clientAddress: [UInt8]?) -> Int? {
        guard let rule = definition.override, let name = headers.first(name: rule.header),
            let index = definition.versionIndex(named: name),
            rule.admits(versionIndex: index, split: split),
            rule.believes(clientAddress: clientAddress, presentedSecret: headers.first(name: rule.secretHeader)?[...])
        else { return nil }
        return index
    }
}

@available(*, unavailable)
extension LoopRoute: Sendable {}

/// The two measurement series of one version: requests routed by the weights, and pinned ones.
struct VersionSeries: Sendable {
    var weighted: SeriesID
    var pinned: SeriesID
}

/// The routing table as one event loop uses it. Replaced whole when the rollout engine publishes a
/// new `RoutingTable`; never mutated in place, so a request sees one consistent set of weights.
struct LoopRoutes {
    let table: RoutingTable
    let routes: [LoopRoute]

    static var empty: LoopRoutes { LoopRoutes(table: RoutingTable(routes: [], splits: [], generation: 0), routes: []) }
}
