import Histogram

/// A latency distribution with ~1 % relative precision from 1 µs to 2 minutes, small enough
/// (~11 KB) to keep one per version per second. Values beyond the range are clamped to it.
public struct LatencyHistogram: Sendable {
    @usableFromInline static let highestMicros: UInt64 = 120_000_000

    @usableFromInline var histogram: Histogram<UInt32>

    public init() {
        histogram = Histogram(highestTrackableValue: Self.highestMicros, numberOfSignificantValueDigits: .two)
    }

    /// Records one latency given in nanoseconds.
    @inlinable
    public mutating func record(nanoseconds: UInt64) {
        let micros = min(max(nanoseconds / 1_000, 1), Self.highestMicros)
        _ = histogram.record(micros)
    }

    public var count: UInt64 { histogram.totalCount }

    /// The value at a percentile (0–100) in seconds; nil when empty.
    public func seconds(atPercentile percentile: Double) -> Double? {
        guard histogram.totalCount > 0 else { return nil }
        return Double(histogram.valueAtPercentile(percentile)) / 1_000_000
    }

    /// How many recorded values exceed `seconds`.
    public func count(above seconds: Double) -> UInt64 {
        guard histogram.totalCount > 0 else { return 0 }
        let micros = UInt64(max(0, seconds * 1_000_000))
        guard micros < Self.highestMicros else { return 0 }
        return histogram.totalCount - histogram.count(within: 0...micros)
    }

    /// Adds another histogram's counts into this one.
    public mutating func merge(_ other: LatencyHistogram) {
        guard other.histogram.totalCount > 0 else { return }
        histogram.add(other.histogram)
    }

    /// Empties the histogram, keeping its storage for reuse.
    public mutating func reset() {
        histogram.reset()
    }
}
