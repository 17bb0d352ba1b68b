/// How a route's canary is walked forward or rolled back: the `policy` block of the config,
/// compiled. The rollout engine reads it; the data plane reads `errors` to classify outcomes.
public struct RolloutPolicy: Sendable, Hashable {
    /// One step of the rollout: a canary weight and whether to wait for an operator there.
    public struct Step: Sendable, Hashable {
        /// Canary share in percent, 0 < weight ≤ 100 (0 for a shadow step).
        public var weight: Double
        public var pause: Bool
        /// A shadow step (`steps: [shadow, …]`): the canary answers nobody, gets copies of the
        /// route's requests (`route.shadow`) and advances once shown to agree with the stable.
        public var shadow = false
        public init(weight: Double, pause: Bool = false) {
            self.weight = weight
            self.pause = pause
        }

        /// A shadow step.
        public init(shadow: Void) {
            self.weight = 0
            self.pause = false
            self.shadow = true
        }
    }

    /// What happens after the last step succeeds.
    public enum PromoteMode: String, Sendable, Hashable {
        case auto
        case manual
    }

    /// What regression evidence does to a held canary (paused, waiting for a manual promotion or
    /// pinned by `set-weight`): it keeps being judged either way.
    public enum HoldAction: String, Sendable, Hashable {
        /// Roll it back, as if it were progressing.
        case rollback
        /// Record the failing verdict as an event (and webhooks `on: [alert]`), keep the weight.
        case alert
    }

    public var steps: [Step]
    public var interval: Duration
    public var warmup: Duration
    public var minRequests: Int
    public var failureLimit: Int
    public var promote: PromoteMode
    public var errors: Set<ErrorKind>
    public var checks: [Check]
    public var webhooks: [Webhook]
    /// What a held canary's regression does (default: roll back).
    public var onHold: HoldAction = .rollback
    /// How long after a promotion `undo` may send traffic back to the previous stable.
    public var rollbackWindow: Duration
    /// Fixed-threshold checks per interval, or the sequential judge.
    public var judge: RolloutJudge

    public init(
        steps: [Step] = RolloutPolicy.defaultSteps,
        interval: Duration = .seconds(30),
        warmup: Duration = .seconds(10),
        minRequests: Int = 100,
        failureLimit: Int = 2,
        promote: PromoteMode = .auto,
        errors: Set<ErrorKind> = RolloutPolicy.defaultErrors,
        checks: [Check] = RolloutPolicy.defaultChecks,
        webhooks: [Webhook] = [],
        rollbackWindow: Duration = .seconds(3600),
        judge: RolloutJudge = .thresholds
    ) {
        self.steps = steps
        self.interval = interval
        self.warmup = warmup
        self.minRequests = minRequests
        self.failureLimit = failureLimit
        self.promote = promote
        self.errors = errors
        self.checks = checks
        self.webhooks = webhooks
        self.rollbackWindow = rollbackWindow
        self.judge = judge
    }

    /// The sequential judge's settings, when the policy uses it.
    public var sequential: SequentialPolicy? {
        if case .sequential(let settings) = judge { return settings }
        return nil
    }

    /// Seconds of per-second history analysis needs: a window and its warm-up, or a whole
    /// sequential step (its checks are judged over the step), and at least five minutes.
    public var historySeconds: Int {
        let longest = max(interval, sequential?.maxStepTime ?? interval) * 2 + warmup
        return max(300, Int(longest.components.seconds) + 2)
    }

    public static let defaultSteps: [Step] = [5, 10, 25, 50].map { Step(weight: $0) }
    public static let defaultErrors: Set<ErrorKind> = [.http5xx, .connect, .timeout, .reset, .grpc, .stream]
    public static let defaultChecks: [Check] = [Check(metric: .errorRate, bound: .maxIncrease(0.02))]
}

/// One analysis check: a metric of the canary compared to a limit or to the stable version.
public struct Check: Sendable, Hashable {
    /// The measured quantity.
    public enum Metric: Sendable, Hashable {
        case errorRate
        /// Latency to the last byte at a percentile (e.g. 99 for `latency_p99`).
        case latency(percentile: Double)
        /// Latency to the first response byte at a percentile (`ttfb_p99`).
        case timeToFirstByte(percentile: Double)
        /// LLM responses: time to the first content chunk at a percentile (`ttft_p95`).
        case timeToFirstToken(percentile: Double)
        /// LLM responses: time per output token at a percentile (`tpot_p50`).
        case timePerOutputToken(percentile: Double)
        /// LLM responses: output tokens per response (`output_tokens_mean`).
        case outputTokensMean
        /// LLM responses: share that stopped at the length limit (`finish_length_rate`).
        case finishLengthRate
        /// LLM responses: share whose stream failed (`stream_error_rate`).
        case streamErrorRate
        /// Shadow: the candidate's disagreement with the stable above the stable's own (`disagreement`).
        case disagreement
        /// Shadow: Kolmogorov–Smirnov statistic of the scores, stable vs candidate (`output_ks`).
        case outputKS
        /// Shadow: population stability index of the scores (`output_psi`).
        case outputPSI

        /// Whether the metric is read from the shadow's comparisons rather than from served requests.
        public var isShadow: Bool {
            switch self {
            case .disagreement, .outputKS, .outputPSI: true
            default: false
            }
        }

        /// What the metric's values are, for bounds and text.
        public enum Unit: Sendable { case rate, seconds, tokens, statistic }

        public var unit: Unit {
            switch self {
            case .errorRate, .finishLengthRate, .streamErrorRate, .disagreement: .rate
            case .latency, .timeToFirstByte, .timeToFirstToken, .timePerOutputToken: .seconds
            case .outputTokensMean: .tokens
            case .outputKS, .outputPSI: .statistic
            }
        }

        /// The name the config uses (`ttft_p95`).
        public var name: String {
            switch self {
            case .errorRate: "error_rate"
            case .latency(let percentile): "latency_p\(Format.percentileName(percentile))"
            case .timeToFirstByte(let percentile): "ttfb_p\(Format.percentileName(percentile))"
            case .timeToFirstToken(let percentile): "ttft_p\(Format.percentileName(percentile))"
            case .timePerOutputToken(let percentile): "tpot_p\(Format.percentileName(percentile))"
            case .outputTokensMean: "output_tokens_mean"
            case .finishLengthRate: "finish_length_rate"
            case .streamErrorRate: "stream_error_rate"
            case .disagreement: "disagreement"
            case .outputKS: "output_ks"
            case .outputPSI: "output_psi"
            }
        }

        /// The value in the unit's own text: `2.5%`, `120ms`, `312.4`.
        public func format(_ value: Double) -> String {
            switch unit {
            case .rate: Format.percent(value)
            case .seconds: Format.milliseconds(value)
            case .tokens: Format.decimal(value, places: 1)
            case .statistic: Format.decimal(value, places: 3)
            }
        }
    }

    /// The limit the canary's value must respect.
    public enum Bound: Sendable, Hashable {
        /// Absolute ceiling: a rate (0–1) for error_rate, seconds for latencies.
        case max(Double)
        /// Canary minus stable must not exceed this (same units as `max`).
        case maxIncrease(Double)
        /// Canary divided by stable must not exceed this.
        case maxRatio(Double)
    }

    public var metric: Metric
    public var bound: Bound

    public init(metric: Metric, bound: Bound) {
        self.metric = metric
        self.bound = bound
    }
}

/// A URL notified with a JSON POST when the named transitions happen.
public struct Webhook: Sendable, Hashable {
    /// The transitions a webhook can subscribe to.
    public enum Trigger: String, Sendable, Hashable, CaseIterable {
        case rollback
        /// A held canary failed its judge and `on_hold: alert` kept it.
        case alert
        case promote
        case step
        case pause
    }

    public var on: Set<Trigger>
    public var url: String
    /// PEM file of the authorities trusted for an `https://` URL; nil trusts the system's roots.
    public var caFile: String?

    public init(on: Set<Trigger>, url: String, caFile: String? = nil) {
        self.on = on
        self.url = url
        self.caFile = caFile
    }
}
