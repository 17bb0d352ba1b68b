/// A check written back the way the config spells it (`error_rate max_increase 2.0%`), for
/// summaries and status output.
public enum CheckText {
    public static func describe(_ check: Check) -> String {
        let metric = check.metric
        switch check.bound {
        case .max(let limit): return "\(metric.name) max \(metric.format(limit))"
        case .maxIncrease(let increase): return "\(metric.name) max_increase \(metric.format(increase))"
        case .maxRatio(let ratio): return "\(metric.name) max_ratio \(Format.decimal(ratio, places: 2))"
        }
    }
}
