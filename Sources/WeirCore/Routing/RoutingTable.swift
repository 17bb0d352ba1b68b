/// The whole routing state at one instant: the compiled routes and each route's current split.
///
/// Immutable; the rollout engine builds a new one for every weight change and the data plane swaps
/// it in whole, so a request always sees one consistent set of weights.
public struct RoutingTable: Sendable, Hashable {
    public let routes: [RouteDefinition]
    public let splits: [TrafficSplit]
    /// Increases with every published table; lets the data plane skip redundant swaps.
    public let generation: UInt64
    /// The routes' match rules alone, in order: matching a request walks this small array rather
    /// than copying whole route definitions.
    @usableFromInline let matchers: [RouteMatch]

    public init(routes: [RouteDefinition], splits: [TrafficSplit], generation: UInt64) {
        precondition(routes.count == splits.count, "one split per route")
        self.routes = routes
        self.splits = splits
        self.generation = generation
        self.matchers = routes.map(\.match)
    }

    /// The table a fresh config starts with: each route's canary at its first step's weight, or
    /// all traffic on the stable version when there is no canary.
    public init(initialFor routes: [RouteDefinition], generation: UInt64 = 1) {
        self.init(
            routes: routes,
            splits: routes.map { route in
                let firstWeight = route.canaryIndex == nil ? 0 : (route.policy.steps.first?.weight ?? 0)
                return TrafficSplit(
                    stableIndex: route.stableIndex,
                    canaryIndex: route.canaryIndex,
                    canaryPercent: firstWeight
                )
            },
            generation: generation
        )
    }

    /// The first route whose match fits, in config order.
    @inlinable
    public func routeIndex(path: String, host: String?, headerValue: (String) -> String?) -> Int? {
        matchers.firstIndex { $0.matches(path: path, host: host, headerValue: headerValue) }
    }

    /// A copy with one route's split replaced.
    public func replacingSplit(ofRoute index: Int, with split: TrafficSplit, generation: UInt64) -> RoutingTable {
        var splits = self.splits
        splits[index] = split
        return RoutingTable(routes: routes, splits: splits, generation: generation)
    }
}
