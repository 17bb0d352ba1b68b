/// Judges one window: the canary's and the stable's statistics over exactly that window, against
/// the policy's checks. Pure, so the controller and `weir simulate` share it.
public enum WindowAnalysis {
    public static func judge(canary: RequestStats, stable: RequestStats, policy: RolloutPolicy) -> Verdict {
        let n = canary.requests
        guard n >= UInt64(policy.minRequests) else {
            return .inconclusive(reason: "too few canary requests: n=\(n) < min_requests \(policy.minRequests)")
        }
        var failures: [String] = []
        for check in policy.checks where !check.metric.isShadow {
            if let failure = evaluate(check, canary: canary, stable: stable, policy: policy) {
                failures.append(failure)
            }
        }
        if failures.isEmpty {
            return .success(reason: "all checks passed (n=\(n))")
        }
        return .failure(reason: failures.joined(separator: "; ") + " (n=\(n))")
    }

    /// nil when the check passes; otherwise what failed, with the numbers.
    static func evaluate(_ check: Check, canary: RequestStats, stable: RequestStats, policy: RolloutPolicy) -> String? {
        let metric = check.metric
        let values: (canary: Double?, stable: Double?)
        switch metric {
        case .errorRate:
            values = (
                canary.errorRate(countingAs: policy.errors),
                stable.requests > 0 ? stable.errorRate(countingAs: policy.errors) : nil
            )
        case .latency(let percentile):
            values = (canary.total.seconds(atPercentile: percentile), stable.total.seconds(atPercentile: percentile))
        case .timeToFirstByte(let percentile):
            values = (
                canary.firstByte.seconds(atPercentile: percentile), stable.firstByte.seconds(atPercentile: percentile)
            )
        case .timeToFirstToken(let percentile):
            values = (
                canary.llm?.ttft.seconds(atPercentile: percentile), stable.llm?.ttft.seconds(atPercentile: percentile)
            )
        case .timePerOutputToken(let percentile):
            values = (
                canary.llm?.tpot.seconds(atPercentile: percentile), stable.llm?.tpot.seconds(atPercentile: percentile)
            )
        case .outputTokensMean:
            values = (canary.llm?.outputTokensMean, stable.llm?.outputTokensMean)
        case .finishLengthRate:
            values = (canary.llm?.finishLengthRate, stable.llm?.finishLengthRate)
        case .streamErrorRate:
            values = (canary.llm?.streamErrorRate, stable.llm?.streamErrorRate)
        case .disagreement, .outputKS, .outputPSI:
            // Judged on the shadow's comparisons (`ShadowAnalysis`), not on served requests.
            return nil
        }
        // No canary value (no LLM response, an empty histogram): nothing to judge.
        guard let canaryValue = values.canary else { return nil }
        return compare(
            name: metric.name, canary: canaryValue, stable: values.stable, bound: check.bound, format: metric.format)
    }

    /// A shadow check against its value and the stable's own (the noise floor for disagreement;
    /// nothing for the distribution statistics, which already compare the two).
    static func compareShadow(_ check: Check, value: Double, floor: Double?) -> String? {
        compare(name: check.metric.name, canary: value, stable: floor, bound: check.bound, format: check.metric.format)
    }

    /// A comparison against the stable passes when the stable has no data in the window: there is
    /// nothing to compare with, and the absolute checks still guard the canary.
    private static func compare(
        name: String, canary: Double, stable: Double?, bound: Check.Bound, format: (Double) -> String
    ) -> String? {
        switch bound {
        case .max(let limit):
            return canary > limit ? "\(name) \(format(canary)) > max \(format(limit))" : nil
        case .maxIncrease(let increase):
            guard let stable else { return nil }
            return canary > stable + increase + 1e-12
                ? "\(name) \(format(canary)) > stable \(format(stable)) + \(format(increase))" : nil
        case .maxRatio(let ratio):
            guard let stable else { return nil }
            guard canary > stable * ratio + 1e-12 else { return nil }
            let shown = stable > 0 ? "\(Format.decimal(canary / stable, places: 2))x" : "∞"
            return
                "\(name) \(format(canary)) = \(shown) stable \(format(stable)) > max_ratio \(Format.decimal(ratio, places: 2))"
        }
    }
}

/// Number formatting for reasons and tables, without Foundation.
public enum Format {
    public static func decimal(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return value > 0 ? "∞" : "-∞" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let rounded = (abs(value) * scale).rounded()
        let whole = Int(rounded / scale)
        let fraction = Int(rounded - Double(whole) * scale)
        let sign = value < 0 && rounded > 0 ? "-" : ""
        guard places > 0 else { return "\(sign)\(whole)" }
        let digits = String(fraction)
        return "\(sign)\(whole)." + String(repeating: "0", count: places - digits.count) + digits
    }

    /// 0.079 → `7.9%`
    public static func percent(_ rate: Double) -> String { decimal(rate * 100, places: 1) + "%" }

    /// seconds → `120ms` / `1.5ms`
    public static func milliseconds(_ seconds: Double) -> String {
        let millis = seconds * 1000
        return
            (millis >= 100
            ? decimal(millis, places: 0) : millis >= 10 ? decimal(millis, places: 1) : decimal(millis, places: 2))
            + "ms"
    }

    /// 99 → `99`, 99.9 → `999`
    public static func percentileName(_ percentile: Double) -> String {
        percentile == percentile.rounded()
            ? "\(Int(percentile))" : String(decimal(percentile, places: 1).filter { $0 != "." })
    }

    /// A weight in percent without trailing zeros: 10 → `10`, 2.5 → `2.5`.
    public static func weight(_ percent: Double) -> String {
        percent == percent.rounded() ? "\(Int(percent))" : decimal(percent, places: 2).replacingTrailingZeros()
    }
}

extension String {
    fileprivate func replacingTrailingZeros() -> String {
        var text = self
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
