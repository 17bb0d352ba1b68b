/// Judges a shadow step on its comparisons: the excess test (rolls back at 1/α), the agreement test
/// (advances), and the threshold checks on the shadow's metrics (`disagreement`, `output_ks`,
/// `output_psi`). Pure, so the controller and `weir simulate` share it.
public enum ShadowAnalysis {
    /// The 1/α the shadow's tests use: the sequential judge's α, else 0.01.
    public static func threshold(_ policy: RolloutPolicy) -> Double { 1 / (policy.sequential?.alpha ?? 0.01) }

    /// Evidence strong enough to decide now: `.failure` (the candidate differs more than the
    /// stable's noise) or `.success` (shown to agree); nil while the tests gather evidence.
    public static func evidence(_ tally: ShadowTally, policy: RolloutPolicy) -> Verdict? {
        let bar = threshold(policy)
        let counts = "(\(tally.candidateOnly) vs \(tally.noiseOnly) of \(tally.comparisons) compared)"
        if tally.excessTest.eValue >= bar {
            return .failure(
                reason:
                    "shadow differs: e=\(Format.decimal(min(tally.excessTest.eValue, 1e12), places: 1)) ≥ \(Format.decimal(bar, places: 0)); disagreement \(Format.percent(1 - (tally.agreement ?? 1))) against a noise floor of \(Format.percent(1 - (tally.noiseAgreement ?? 1))) \(counts)"
            )
        }
        if tally.agreementTest.eValue >= bar {
            return .success(
                reason:
                    "shadow agrees: e=\(Format.decimal(min(tally.agreementTest.eValue, 1e12), places: 1)) ≥ \(Format.decimal(bar, places: 0)); disagreement \(Format.percent(1 - (tally.agreement ?? 1))) against a noise floor of \(Format.percent(1 - (tally.noiseAgreement ?? 1))) \(counts)"
            )
        }
        return nil
    }

    /// The shadow checks of the policy on everything compared in the step.
    public static func checks(_ tally: ShadowTally, policy: RolloutPolicy) -> Verdict {
        let n = tally.comparisons
        guard n >= UInt64(policy.minRequests) else {
            return .inconclusive(reason: "too few shadow comparisons: n=\(n) < min_requests \(policy.minRequests)")
        }
        var failures: [String] = []
        for check in policy.checks where check.metric.isShadow {
            let failure: String?
            switch check.metric {
            case .disagreement:
                failure = WindowAnalysis.compareShadow(
                    check, value: 1 - (tally.agreement ?? 1), floor: tally.noiseAgreement.map { 1 - $0 })
            case .outputKS:
                failure = tally.ks.flatMap { WindowAnalysis.compareShadow(check, value: $0, floor: nil) }
            case .outputPSI:
                failure = tally.psi.flatMap { WindowAnalysis.compareShadow(check, value: $0, floor: nil) }
            default:
                failure = nil
            }
            if let failure { failures.append(failure) }
        }
        return failures.isEmpty
            ? .success(reason: "shadow checks passed (n=\(n))") : .failure(reason: failures.joined(separator: "; ") + " (n=\(n))")
    }
}
