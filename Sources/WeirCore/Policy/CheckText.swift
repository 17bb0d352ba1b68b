/// A check written back the way the config spells it (`error_rate max_increase 2.0%`), for
/// summaries and status output.
public enum CheckText {
    public static func describe(_ check: Check) -> String {
        let isRate: Bool
        let metric: String
        switch check.metric {
        case .errorRate:
            metric = "error_rate"
            isRate = true
        case .latency(let percentile):
            metric = "latency_p\(Format.percentileName(percentile))"
            isRate = false
        case .timeToFirstByte(let percentile):
            metric = "ttfb_p\(Format.percentileName(percentile))"
            isRate = false
        }
        func value(_ number: Double) -> String { isRate ? Format.percent(number) : Format.milliseconds(number) }
        switch check.bound {
        case .max(let limit): return "\(metric) max \(value(limit))"
        case .maxIncrease(let increase): return "\(metric) max_increase \(value(increase))"
        case .maxRatio(let ratio): return "\(metric) max_ratio \(Format.decimal(ratio, places: 2))"
        }
    }
}
