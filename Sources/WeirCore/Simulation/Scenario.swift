/// Synthetic traffic for `weir simulate`: phases of steady load with each version's error
/// probability and latency distribution.
public struct Scenario: Sendable, Hashable {
    /// How one version behaves during a phase.
    public struct VersionBehavior: Sendable, Hashable {
        /// Probability that a request fails with a 5xx.
        public var errorRate: Double
        /// Median latency, seconds.
        public var latencyP50: Double
        /// 99th-percentile latency, seconds (a log-normal distribution is fitted to both).
        public var latencyP99: Double
        /// Share of requests that take `slowExtra` seconds longer (a stalled dependency).
        public var slowShare: Double
        public var slowExtra: Double
        /// Share of this version's answers that differ from the stable's own answer to the same
        /// request, in a shadow step (for the stable: its noise with itself).
        public var disagreement: Double = 0
        /// How the version generates, when it serves an LLM: then every response is streamed with
        /// these distributions and latency comes from them (TTFT + TPOT × (tokens − 1)).
        public var llm: LLMBehavior?

        public init(
            errorRate: Double = 0, latencyP50: Double = 0.020, latencyP99: Double = 0.080, slowShare: Double = 0,
            slowExtra: Double = 0
        ) {
            self.errorRate = errorRate
            self.latencyP50 = latencyP50
            self.latencyP99 = latencyP99
            self.slowShare = slowShare
            self.slowExtra = slowExtra
        }
    }

    /// How an LLM version streams: log-normal time to first token and time per output token fitted to
    /// a median and a p99, output tokens uniform around a mean, and shares of length-limited and
    /// failed streams.
    public struct LLMBehavior: Sendable, Hashable {
        public var ttftP50: Double = 0.200
        public var ttftP99: Double = 0.800
        public var tpotP50: Double = 0.020
        public var tpotP99: Double = 0.050
        public var outputTokens: Double = 200
        /// Share of responses that stop at the length limit (`finish_reason: length`).
        public var lengthShare: Double = 0.02
        /// Share of streams that fail midway (error kind `stream`).
        public var streamErrorRate: Double = 0
        public init() {}
    }

    /// A stretch of time with steady traffic.
    public struct Phase: Sendable, Hashable {
        public var duration: Duration
        /// Requests per second over the whole route.
        public var rps: Double
        public var stable: VersionBehavior
        public var canary: VersionBehavior
        /// Share of requests an operator pins to the canary (an override): served by it while
        /// its weight is above 0, measured apart, never judged.
        public var pinnedShare: Double = 0
        /// The config is reloaded as this phase begins (same route): the rollout and its judge
        /// carry on, as `weir serve` does.
        public var reload = false

        public init(duration: Duration, rps: Double, stable: VersionBehavior, canary: VersionBehavior) {
            self.duration = duration
            self.rps = rps
            self.stable = stable
            self.canary = canary
        }
    }

    public var phases: [Phase]

    public init(phases: [Phase]) {
        self.phases = phases
    }

    public var totalDuration: Duration { phases.reduce(.zero) { $0 + $1.duration } }

    /// The phase in force at `offset` and its index, or nil after the last one.
    public func indexedPhase(at offset: Duration) -> (Int, Phase)? {
        var end = Duration.zero
        for (index, phase) in phases.enumerated() {
            end += phase.duration
            if offset < end { return (index, phase) }
        }
        return nil
    }

    /// The phase in force at `offset`, or nil after the last one.
    public func phase(at offset: Duration) -> Phase? {
        var end = Duration.zero
        for phase in phases {
            end += phase.duration
            if offset < end { return phase }
        }
        return nil
    }
}
