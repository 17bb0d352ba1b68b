import RealModule

/// Replays a `Scenario` through the real analysis and state machine on a `VirtualClock`: every
/// simulated request is drawn (version by weight, error, latency), recorded into the same
/// per-second windows the data plane feeds, and judged exactly as the controller judges it.
/// Deterministic for a seed.
public struct RolloutSimulator {
    /// One transition and when it happened.
    public struct Decision: Sendable {
        public var at: Duration
        public var transition: RolloutTransition
    }

    /// How a run ended.
    public struct Outcome: Sendable {
        public var decisions: [Decision]
        public var final: RolloutStatus
        /// When the rollout was promoted or rolled back, if it was.
        public var decidedAt: Duration?
        public var requests: (stable: UInt64, canary: UInt64)

        public var endedPromoted: Bool { final.phase == .promoted }
        public var endedRolledBack: Bool { final.phase == .rolledBack }
    }

    public let route: RouteDefinition
    public let scenario: Scenario

    public init(route: RouteDefinition, scenario: Scenario) {
        precondition(route.canaryIndex != nil, "simulate needs a route with a canary")
        self.route = route
        self.scenario = scenario
    }

    /// Runs the scenario once. `stopAtDecision` ends the run at promotion or rollback (for `--runs`).
    public func run(seed: UInt64, stopAtDecision: Bool = false) -> Outcome {
        var random = SplitMix64(seed: seed)
        let zero = VirtualClock.Instant(offset: .zero)
        var machine = RolloutStateMachine<VirtualClock>(route: route, status: .initial(for: route), now: zero)
        let history = route.policy.historySeconds
        var stableWindow = SlidingWindow(capacitySeconds: history)
        var canaryWindow = SlidingWindow(capacitySeconds: history)
        var decisions: [Decision] = []
        var decidedAt: Duration?
        var carry = 0.0
        var totals: (stable: UInt64, canary: UInt64) = (0, 0)
        let seconds = scenario.totalDuration.components.seconds

        var lastPhase: Int?
        var shadow = ShadowTally()
        var shadowStep: Int?
        for second in 0..<seconds {
            guard let (phaseIndex, phase) = scenario.indexedPhase(at: .seconds(second)) else { break }
            if phase.reload && phaseIndex != lastPhase {
                // A reload: a new machine resumes the status, and the judge carries on.
                let now = VirtualClock.Instant(offset: .seconds(second))
                let snapshot = machine.judgeSnapshot
                machine = RolloutStateMachine(route: route, status: machine.status, now: now)
                if let snapshot { machine.restoreJudge(snapshot) }
            }
            lastPhase = phaseIndex
            // Traffic of this second, split by the weights in force now.
            let split = machine.split
            carry += phase.rps
            let count = Int(carry)
            carry -= Double(count)
            var stableStats = RequestStats()
            var canaryStats = RequestStats()
            if machine.isShadowStep {
                // Every request is copied to the candidate and to the stable again.
                if shadowStep != machine.status.step {
                    shadow = ShadowTally()
                    shadowStep = machine.status.step
                }
                for _ in 0..<count {
                    let differs = Double.random(in: 0..<1, using: &random) < phase.canary.disagreement
                    let noise = Double.random(in: 0..<1, using: &random) < phase.stable.disagreement
                    shadow.record(
                        candidate: .init(agree: !differs, detail: ""), noise: .init(agree: !noise, detail: ""))
                }
            } else {
                shadowStep = nil
            }
            let stableModel = LatencyModel(phase.stable)
            let canaryModel = LatencyModel(phase.canary)
            let stableModels = phase.stable.llm.map(GenerationModels.init)
            let canaryModels = phase.canary.llm.map(GenerationModels.init)
            for _ in 0..<count {
                // Pinned requests reach the canary only while it has weight, and are never judged.
                if phase.pinnedShare > 0, split.canaryBasisPoints > 0,
                    Double.random(in: 0..<1, using: &random) < phase.pinnedShare
                {
                    continue
                }
                let toCanary =
                    VersionSelector.select(split: split, overrideIndex: nil, stickyKey: nil, using: &random).index
                    == split.canaryIndex
                let behavior = toCanary ? phase.canary : phase.stable
                let model = toCanary ? canaryModel : stableModel
                let failed = behavior.errorRate > 0 && Double.random(in: 0..<1, using: &random) < behavior.errorRate
                let outcome: RequestOutcome
                if let llm = behavior.llm, !failed {
                    outcome = Self.generation(llm, models: toCanary ? canaryModels : stableModels, using: &random)
                } else {
                    var latency = model.sample(using: &random)
                    if behavior.slowShare > 0 && Double.random(in: 0..<1, using: &random) < behavior.slowShare {
                        latency += UInt64(behavior.slowExtra * 1e9)
                    }
                    outcome = RequestOutcome(
                        status: failed ? 500 : 200, failure: nil, firstByteNanos: latency / 2, totalNanos: latency)
                }
                if toCanary { canaryStats.record(outcome) } else { stableStats.record(outcome) }
            }
            totals.stable += stableStats.requests
            totals.canary += canaryStats.requests
            stableWindow.add(second: second, stats: stableStats)
            canaryWindow.add(second: second, stats: canaryStats)

            // As the controller does: a due window (a progressing or held canary's) is judged on its
            // checks, then the sequential judge sees the second.
            let now = VirtualClock.Instant(offset: .seconds(second + 1))
            var transitions: [RolloutTransition] = []
            if machine.isWindowDue(at: now) {
                let from = Self.ceilSecond(machine.measureFrom)
                let to = now.second
                if let transition = machine.windowEnded(
                    at: now,
                    canary: canaryWindow.stats(from: from, to: to),
                    stable: stableWindow.stats(from: from, to: to)
                ) {
                    transitions.append(transition)
                }
            }
            if machine.isShadowStep, let transition = machine.observeShadow(shadow, at: now) {
                transitions.append(transition)
            }
            if route.policy.sequential != nil, machine.status.phase == .progressing || machine.isHeld,
                let transition = machine.observeSecond(canary: canaryStats, stable: stableStats, at: now)
            {
                transitions.append(transition)
            }
            var decided = false
            for transition in transitions {
                decisions.append(Decision(at: now.offset, transition: transition))
                if transition.to.phase == .promoted || transition.to.phase == .rolledBack {
                    decidedAt = decidedAt ?? now.offset
                    decided = true
                }
            }
            if decided && stopAtDecision { break }
        }
        return Outcome(decisions: decisions, final: machine.status, decidedAt: decidedAt, requests: totals)
    }

    /// One streamed LLM response drawn from `llm`: its time to first token, time per token, tokens
    /// and finish, and the latencies they add up to.
    static func generation(
        _ llm: Scenario.LLMBehavior, models: GenerationModels?, using random: inout SplitMix64
    ) -> RequestOutcome {
        let models = models ?? GenerationModels(llm)
        let ttft = models.ttft.sample(using: &random)
        let tpot = models.tpot.sample(using: &random)
        let tokens = UInt64(max(1, (llm.outputTokens * Double.random(in: 0.5..<1.5, using: &random)).rounded()))
        let cut = llm.streamErrorRate > 0 && Double.random(in: 0..<1, using: &random) < llm.streamErrorRate
        let finish: FinishReason =
            cut ? .none : Double.random(in: 0..<1, using: &random) < llm.lengthShare ? .length : .stop
        let total = ttft + tpot * (tokens - 1)
        let facts = LLMFacts(
            ttftNanos: ttft, tpotNanos: tokens >= 2 ? tpot : nil, outputTokens: tokens, durationNanos: total,
            finish: finish, streamError: cut)
        return RequestOutcome(
            status: 200, failure: cut ? .stream : nil, firstByteNanos: min(ttft, 1_000_000), totalNanos: total,
            llm: facts)
    }

    static func ceilSecond(_ instant: VirtualClock.Instant) -> Int64 {
        let whole = instant.second
        return VirtualClock.Instant(offset: .seconds(whole)) == instant ? whole : whole + 1
    }
}

/// The distributions of one LLM version's generations.
struct GenerationModels {
    let ttft: LatencyModel
    let tpot: LatencyModel

    init(_ llm: Scenario.LLMBehavior) {
        ttft = LatencyModel(p50: llm.ttftP50, p99: llm.ttftP99)
        tpot = LatencyModel(p50: llm.tpotP50, p99: llm.tpotP99)
    }
}

/// A log-normal latency distribution fitted to a median and a 99th percentile.
struct LatencyModel {
    let mu: Double
    let sigma: Double

    init(_ behavior: Scenario.VersionBehavior) {
        self.init(p50: behavior.latencyP50, p99: behavior.latencyP99)
    }

    init(p50 median: Double, p99 tail: Double) {
        let p50 = max(median, 1e-6)
        let p99 = max(tail, p50)
        mu = Double.log(p50)
        sigma = (Double.log(p99) - mu) / 2.326_347_874
    }

    /// One latency in nanoseconds.
    func sample(using random: inout SplitMix64) -> UInt64 {
        // Box–Muller: one standard normal from two uniforms.
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &random)
        let u2 = Double.random(in: 0..<1, using: &random)
        let normal = (-2 * Double.log(u1)).squareRoot() * Double.cos(2 * Double.pi * u2)
        let seconds = Double.exp(mu + sigma * normal)
        return UInt64(min(seconds, 120) * 1e9)
    }
}
