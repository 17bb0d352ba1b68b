/// Reads and writes the config's durations: `250ms`, `30s`, `1.5s`, `5m`, `1h`.
public enum DurationText {
    private static let units: [(suffix: String, nanos: Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]

    public static func parse(_ text: String) -> Duration? {
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                let value = Double(number), value.isFinite
            else { return nil }
            let nanos = value * unit.nanos
            guard nanos < 1e18 else { return nil }
            return .nanoseconds(Int64(nanos.rounded()))
        }
        return nil
    }

    /// The shortest of the config's forms that states the duration exactly.
    public static func format(_ duration: Duration) -> String {
        let nanos = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        if nanos > 0 && nanos % 3_600_000_000_000 == 0 { return "\(nanos / 3_600_000_000_000)h" }
        if nanos > 0 && nanos % 60_000_000_000 == 0 { return "\(nanos / 60_000_000_000)m" }
        if nanos % 1_000_000_000 == 0 { return "\(nanos / 1_000_000_000)s" }
        if nanos % 1_000_000 == 0 { return "\(nanos / 1_000_000)ms" }
        return "\(Double(nanos) / 1e9)s"
    }
}
