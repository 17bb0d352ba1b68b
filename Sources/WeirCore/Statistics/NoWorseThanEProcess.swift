import RealModule

/// The reverse test, for promotion: absence of evidence is not safety. H0: the canary's event rate
/// is at least r₀ × the stable's. Under H0 each event comes from the canary with probability at
/// least θ(r₀, ρ); the likelihood ratio of "the canary is as good as the stable or better" (a small
/// grid of ratios ≤ 1) against θ(r₀, ρ) is an e-process for H0 (a larger true ratio only lowers
/// it). Reaching 1/α shows, at level α, that the canary is no worse than r₀ × the stable.
public struct NoWorseThanEProcess: Sendable, Hashable, Codable {
    public let r0: Double
    /// Alternative ratios, all below r₀.
    public let alternatives: [Double]
    public private(set) var logLikelihoodRatios: [Double]

    public init(r0: Double, alternatives: [Double] = [1, 0.5, 0.25]) {
        precondition(r0 > 1 && alternatives.allSatisfy { $0 > 0 && $0 < r0 })
        self.r0 = r0
        self.alternatives = alternatives
        self.logLikelihoodRatios = Array(repeating: 0, count: alternatives.count)
    }

    public mutating func observe(canary: UInt64, stable: UInt64, rho: Double) {
        guard canary + stable > 0, rho > 0, rho < 1 else { return }
        let null = ErrorProvenanceEProcess.theta(ratio: r0, rho: rho)
        for index in alternatives.indices {
            let alternative = ErrorProvenanceEProcess.theta(ratio: alternatives[index], rho: rho)
            logLikelihoodRatios[index] +=
                Double(canary) * Double.log(alternative / null)
                + Double(stable) * Double.log((1 - alternative) / (1 - null))
        }
    }

    public var eValue: Double { ErrorProvenanceEProcess.meanOfExponentials(logLikelihoodRatios) }
}
