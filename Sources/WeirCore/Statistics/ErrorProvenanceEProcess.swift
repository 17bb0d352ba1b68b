import RealModule

/// An anytime-valid test that the canary causes more than its share of some event (errors, slow
/// responses), after Lindon & Malek (NeurIPS 2022), "Anytime-valid inference for multinomial count
/// data", as Netflix applies it to canaries.
///
/// Every request goes to the canary with a known probability ρ (its weight). If the canary is no
/// worse than the stable, each event came from the canary with probability ρ — whatever the load
/// or the baseline rate. If the canary's event rate is r times the stable's, that probability is
/// θ(r, ρ) = ρr / (ρr + 1 − ρ). For each r of a grid the running log-likelihood ratio
/// Σ [b·ln(θ/ρ) + (1−b)·ln((1−θ)/(1−ρ))] over events (b = 1 for a canary event) is kept; the
/// e-value is the mean over the grid of its exponentials. Under "no worse" it is a nonnegative
/// supermartingale with expectation ≤ 1, so by Ville's inequality the chance that it ever reaches
/// 1/α is at most α — it may be checked after every event and never reset, even as ρ changes.
public struct ErrorProvenanceEProcess: Sendable, Hashable, Codable {
    /// The alternatives: canary-to-stable event-rate ratios.
    public let ratios: [Double]
    /// Running log-likelihood ratio per grid ratio.
    public private(set) var logLikelihoodRatios: [Double]
    public private(set) var canaryEvents: UInt64 = 0
    public private(set) var totalEvents: UInt64 = 0

    public init(ratios: [Double]) {
        precondition(!ratios.isEmpty && ratios.allSatisfy { $0 > 0 })
        self.ratios = ratios
        self.logLikelihoodRatios = Array(repeating: 0, count: ratios.count)
    }

    /// Adds a batch of events seen while the canary's weight was `rho` (0 < ρ < 1): `canary` of
    /// them from the canary, `stable` from the stable version. Batches are exact: the likelihood
    /// ratio of independent events multiplies.
    public mutating func observe(canary: UInt64, stable: UInt64, rho: Double) {
        guard canary + stable > 0, rho > 0, rho < 1 else { return }
        canaryEvents += canary
        totalEvents += canary + stable
        for index in ratios.indices {
            let theta = Self.theta(ratio: ratios[index], rho: rho)
            logLikelihoodRatios[index] +=
                Double(canary) * Double.log(theta / rho) + Double(stable) * Double.log((1 - theta) / (1 - rho))
        }
    }

    /// θ(r, ρ): the probability that an event came from the canary when its rate is r × the stable's.
    @inlinable
    public static func theta(ratio: Double, rho: Double) -> Double {
        rho * ratio / (rho * ratio + 1 - rho)
    }

    /// The mixture e-value: the mean over the grid of exp(log-likelihood ratio).
    public var eValue: Double {
        Self.meanOfExponentials(logLikelihoodRatios)
    }

    /// log(mean(exp(x))) computed without overflow, then exponentiated (saturating at +∞).
    static func meanOfExponentials(_ logs: [Double]) -> Double {
        guard let largest = logs.max() else { return 1 }
        let sum = logs.reduce(0) { $0 + Double.exp($1 - largest) }
        let logMean = largest + Double.log(sum / Double(logs.count))
        return logMean > 700 ? .infinity : Double.exp(logMean)
    }
}
