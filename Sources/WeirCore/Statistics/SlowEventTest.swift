/// One slow-event test of the sequential judge: an event is a response slower than a threshold —
/// fixed by the policy, or learned as the stable version's p99 over its first
/// `SequentialPolicy.learnRequests` values and then frozen (before any event is counted, so the
/// threshold is a predictable choice and the test stays an e-process). The same test serves total
/// latency, time to first token and time per output token: only the histograms it reads differ.
public struct SlowEventTest: Sendable, Hashable, Codable {
    public private(set) var process: ErrorProvenanceEProcess
    /// The threshold in seconds once fixed.
    public private(set) var threshold: Double?

    public init(ratios: [Double], threshold: Double?) {
        process = ErrorProvenanceEProcess(ratios: ratios)
        self.threshold = threshold
    }

    /// Restores a test from its stored parts.
    init(process: ErrorProvenanceEProcess, threshold: Double?) {
        self.process = process
        self.threshold = threshold
    }

    /// Counts one second's slow responses of each version, or — while the threshold is still being
    /// learned — adds the stable's values to `learning` and fixes the threshold once there are enough.
    mutating func observe(
        canary: LatencyHistogram?, stable: LatencyHistogram?, rho: Double, learning: inout LatencyHistogram
    ) {
        if let threshold {
            process.observe(
                canary: canary?.count(above: threshold) ?? 0, stable: stable?.count(above: threshold) ?? 0, rho: rho)
        } else if let stable {
            learning.merge(stable)
            if learning.count >= UInt64(SequentialPolicy.learnRequests) {
                threshold = learning.seconds(atPercentile: 99)
                learning.reset()
            }
        }
    }

    public var eValue: Double { process.eValue }
}
