/// Chooses the version that serves one request: a valid override header first, then the sticky
/// key's bucket against the current weights, otherwise a weighted random draw.
public enum VersionSelector {
    /// Why a version was chosen; shown in logs and used by tests.
    public enum Reason: Sendable, Hashable {
        case override
        case sticky
        case weighted
    }

    /// - Parameters:
    ///   - split: the route's current weights.
    ///   - overrideIndex: the version named by the override header, already resolved; nil when absent or unknown.
    ///   - stickyKey: the request's sticky key, if the route is sticky and the request carries one.
    ///   - random: the random source (seeded in tests and simulations).
    @inlinable
    public static func select(
        split: TrafficSplit,
        overrideIndex: Int?,
        stickyKey: Substring?,
        using random: inout some RandomNumberGenerator
    ) -> (index: Int, reason: Reason) {
        if let overrideIndex { return (overrideIndex, .override) }
        guard let canary = split.canaryIndex, split.canaryBasisPoints > 0 else { return (split.stableIndex, .weighted) }
        if split.canaryBasisPoints >= TrafficSplit.fullScale { return (canary, .weighted) }
        if let stickyKey {
            let bucket = StickyBucket.bucket(for: stickyKey)
            return (bucket < split.canaryBasisPoints ? canary : split.stableIndex, .sticky)
        }
        let draw = Int(random.next(upperBound: UInt64(TrafficSplit.fullScale)))
        return (draw < split.canaryBasisPoints ? canary : split.stableIndex, .weighted)
    }
}
