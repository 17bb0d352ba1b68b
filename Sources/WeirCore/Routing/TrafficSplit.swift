/// How a route's traffic is divided right now: the stable version, the canary if any, and the
/// canary's share in basis points (1/100 of a percent) so steps such as 0.5 % are exact.
public struct TrafficSplit: Sendable, Hashable {
    public static let fullScale = 10_000

    public var stableIndex: Int
    public var canaryIndex: Int?
    /// 0...10 000.
    public var canaryBasisPoints: Int

    public init(stableIndex: Int, canaryIndex: Int?, canaryBasisPoints: Int) {
        precondition((0...TrafficSplit.fullScale).contains(canaryBasisPoints), "canary weight out of range")
        self.stableIndex = stableIndex
        self.canaryIndex = canaryIndex
        self.canaryBasisPoints = canaryIndex == nil ? 0 : canaryBasisPoints
    }

    /// All traffic to one version.
    public static func allTo(_ index: Int) -> TrafficSplit {
        TrafficSplit(stableIndex: index, canaryIndex: nil, canaryBasisPoints: 0)
    }

    /// Builds a split from a canary weight given in percent (0–100, fractions allowed).
    public init(stableIndex: Int, canaryIndex: Int?, canaryPercent: Double) {
        let basisPoints = Int((canaryPercent * 100).rounded())
        self.init(
            stableIndex: stableIndex,
            canaryIndex: canaryIndex,
            canaryBasisPoints: min(max(basisPoints, 0), TrafficSplit.fullScale)
        )
    }

    public var canaryPercent: Double { Double(canaryBasisPoints) / 100 }
}

extension TrafficSplit {
    /// The share of version `index` in basis points: 0 for a version that is neither stable nor canary.
    public func weightBasisPoints(of index: Int) -> Int {
        if index == canaryIndex { return canaryBasisPoints }
        if index == stableIndex { return TrafficSplit.fullScale - canaryBasisPoints }
        return 0
    }
}
