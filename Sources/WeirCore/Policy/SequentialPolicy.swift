/// The settings of the sequential judge (`policy.judge: sequential`): how sure it must be, which
/// regressions it looks for, and when a step may advance.
public struct SequentialPolicy: Sendable, Hashable {
    /// How slow responses are judged.
    public enum LatencyTest: Sendable, Hashable {
        /// Latency is not judged.
        case off
        /// "Slow" events — responses slower than a threshold — are judged like errors. The threshold
        /// is this many seconds, or, when nil, the stable version's p99 over its first
        /// `learnRequests` requests, fixed before any slow event is counted.
        case slowEvents(thresholdSeconds: Double?)
    }

    /// The chance, at most, that a canary no worse than the stable is ever rolled back.
    public var alpha: Double
    /// The canary-to-stable rate ratios the test looks for (the mixture's grid).
    public var ratios: [Double]
    /// Promotion evidence: a step may advance early once the canary is shown no worse than r₀ × stable.
    public var r0: Double
    public var latency: LatencyTest
    /// Slow time-to-first-token events (LLM routes). nil: learned when the route declares `llm`,
    /// off otherwise (the config compiler decides).
    public var ttft: LatencyTest?
    /// Slow time-per-output-token events (LLM routes), as `ttft`.
    public var tpot: LatencyTest?
    /// A stable error rate at or above this is shared trouble (a failing dependency): the judge
    /// freezes its evidence and the rollout holds until it passes.
    public var troubleErrorRate: Double = 0.10
    /// A step advances without proof of safety after this long, if no regression was found and the
    /// canary served at least `min_requests` in the step. nil = the policy's interval.
    public var maxStepTime: Duration?
    /// No step advances before this long, even with proof of safety.
    public var minBakeTime: Duration

    public static let learnRequests = 200

    public init(
        alpha: Double = 0.01,
        ratios: [Double] = [1.5, 2, 3, 5, 8, 13, 20],
        r0: Double = 1.5,
        latency: LatencyTest = .slowEvents(thresholdSeconds: nil),
        ttft: LatencyTest? = nil,
        tpot: LatencyTest? = nil,
        maxStepTime: Duration? = nil,
        minBakeTime: Duration = .seconds(10)
    ) {
        self.ttft = ttft
        self.tpot = tpot
        self.alpha = alpha
        self.ratios = ratios
        self.r0 = r0
        self.latency = latency
        self.maxStepTime = maxStepTime
        self.minBakeTime = minBakeTime
    }
}

/// How a route's windows or events are judged.
public enum RolloutJudge: Sendable, Hashable {
    /// Fixed-threshold checks once per interval (`checks`).
    case thresholds
    /// Anytime-valid sequential tests on every second of traffic.
    case sequential(SequentialPolicy)
}
