import Testing
import WeirCore

@Suite struct SequentialJudgeTests {
    /// Values computed independently with Python's math module from the formulas of
    /// Lindon & Malek: θ(r, ρ) = ρr / (ρr + 1 − ρ), LLR = Σ b·ln(θ/ρ) + (1 − b)·ln((1 − θ)/(1 − ρ)).
    @Test func errorProvenanceMatchesIndependentlyComputedValues() {
        var process = ErrorProvenanceEProcess(ratios: [2, 4])
        process.observe(canary: 3, stable: 5, rho: 0.10)
        process.observe(canary: 1, stable: 10, rho: 0.25)
        #expect(abs(process.logLikelihoodRatios[0] - (-0.44447178065112647)) < 1e-9)
        #expect(abs(process.logLikelihoodRatios[1] - (-2.7095103385500137)) < 1e-9)
        #expect(abs(process.eValue - 0.3538661282160914) < 1e-9)
        #expect(process.canaryEvents == 4 && process.totalEvents == 19)
        #expect(abs(ErrorProvenanceEProcess.theta(ratio: 2, rho: 0.1) - 0.2 / 1.1) < 1e-12)
    }

    @Test func reverseTestMatchesIndependentlyComputedValues() {
        var safety = NoWorseThanEProcess(r0: 1.5)
        safety.observe(canary: 0, stable: 40, rho: 0.1)
        #expect(abs(safety.logLikelihoodRatios[0] - 1.951606566777282) < 1e-9)
        #expect(abs(safety.logLikelihoodRatios[2] - 5.070068225565753) < 1e-9)
        #expect(abs(safety.eValue - 73.66863270145423) < 1e-9)
    }

    /// Under "no worse" each event is the canary's with probability ρ. Ville: the chance that the
    /// e-value ever reaches 1/α is at most α, however often it is checked and however ρ moves.
    @Test func anAACanaryCrossesOneOverAlphaAtMostAlphaOfTheTime() {
        var random = SplitMix64(seed: 99)
        let paths = 4_000
        var crossed = 0
        var finalSum = 0.0
        for _ in 0..<paths {
            var process = ErrorProvenanceEProcess(ratios: [1.5, 2, 3, 5, 8, 13, 20])
            var everCrossed = false
            for event in 0..<300 {
                let rho = [0.05, 0.10, 0.25, 0.50][event / 75]
                let fromCanary = Double.random(in: 0..<1, using: &random) < rho
                process.observe(canary: fromCanary ? 1 : 0, stable: fromCanary ? 0 : 1, rho: rho)
                if process.eValue >= 20 { everCrossed = true }
            }
            if everCrossed { crossed += 1 }
            finalSum += process.eValue
        }
        let share = Double(crossed) / Double(paths)
        // α = 0.05 with a 3-sigma sampling allowance.
        #expect(share <= 0.05 + 3 * (0.05 * 0.95 / Double(paths)).squareRoot(), "crossed in \(share) of paths")
        // A supermartingale in expectation: the mean e-value stays near or below 1.
        #expect(finalSum / Double(paths) < 1.5, "mean e-value \(finalSum / Double(paths))")
    }

    /// A worse canary is caught sooner: the mean log e-value after the same number of events
    /// rises with the true ratio.
    @Test func reactsMonotonicallyToWorseCanaries() {
        var previous = -Double.infinity
        for ratio in [1.0, 1.5, 2, 4, 8] {
            var random = SplitMix64(seed: 5)
            var total = 0.0
            for _ in 0..<300 {
                var process = ErrorProvenanceEProcess(ratios: [1.5, 2, 3, 5, 8, 13, 20])
                let theta = ErrorProvenanceEProcess.theta(ratio: ratio, rho: 0.05)
                for _ in 0..<100 {
                    let fromCanary = Double.random(in: 0..<1, using: &random) < theta
                    process.observe(canary: fromCanary ? 1 : 0, stable: fromCanary ? 0 : 1, rho: 0.05)
                }
                total += process.logLikelihoodRatios.max()!
            }
            #expect(total / 300 > previous, "ratio \(ratio)")
            previous = total / 300
        }
    }

    @Test func aBetterCanaryIsShownSafeAndAWorseOneNever() {
        var random = SplitMix64(seed: 8)
        var better = NoWorseThanEProcess(r0: 1.5)
        var worse = NoWorseThanEProcess(r0: 1.5)
        for _ in 0..<2_000 {
            let goodFromCanary =
                Double.random(in: 0..<1, using: &random) < ErrorProvenanceEProcess.theta(ratio: 0.5, rho: 0.25)
            better.observe(canary: goodFromCanary ? 1 : 0, stable: goodFromCanary ? 0 : 1, rho: 0.25)
            let badFromCanary =
                Double.random(in: 0..<1, using: &random) < ErrorProvenanceEProcess.theta(ratio: 2, rho: 0.25)
            worse.observe(canary: badFromCanary ? 1 : 0, stable: badFromCanary ? 0 : 1, rho: 0.25)
        }
        #expect(better.eValue >= 100)
        #expect(worse.eValue < 1)
    }

    @Test func judgeCombinesErrorsAndSlowResponsesByTheirAverage() {
        var judge = SequentialJudge(policy: SequentialPolicy(latency: .slowEvents(thresholdSeconds: 0.1)))
        var canary = RequestStats()
        var stable = RequestStats()
        for index in 0..<20 {
            canary.record(
                RequestOutcome(
                    status: 200, failure: nil, firstByteNanos: nil, totalNanos: index < 10 ? 500_000_000 : 10_000_000))
        }
        for _ in 0..<380 {
            stable.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: nil, totalNanos: 10_000_000))
        }
        for _ in 0..<4 {
            stable.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: nil, totalNanos: 300_000_000))
        }
        judge.observe(canary: canary, stable: stable, weightPercent: 5, errorKinds: [.http5xx])
        #expect(judge.errors.totalEvents == 0)
        #expect(judge.slow?.canaryEvents == 10 && judge.slow?.totalEvents == 14)
        #expect(abs(judge.eValue - (judge.errors.eValue + judge.slow!.eValue) / 2) < 1e-9)
        #expect(
            judge.rollbackReason?.contains("canary slow responses (> 100ms) 10 of 14 at weight 5%") == true,
            "\(judge.evidence())")
    }

    @Test func theSlowThresholdIsLearnedFromTheStableThenFrozen() {
        var judge = SequentialJudge(policy: SequentialPolicy(latency: .slowEvents(thresholdSeconds: nil)))
        var stable = RequestStats()
        for millis in 1...100 {
            stable.record(
                RequestOutcome(status: 200, failure: nil, firstByteNanos: nil, totalNanos: UInt64(millis) * 1_000_000))
        }
        judge.observe(canary: RequestStats(), stable: stable, weightPercent: 5, errorKinds: [.http5xx])
        #expect(judge.slowThreshold == nil)
        judge.observe(canary: RequestStats(), stable: stable, weightPercent: 5, errorKinds: [.http5xx])
        let threshold = try! #require(judge.slowThreshold)
        #expect(abs(threshold - 0.099) < 0.002)
        var slowerStable = RequestStats()
        for _ in 0..<500 {
            slowerStable.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: nil, totalNanos: 900_000_000))
        }
        judge.observe(canary: RequestStats(), stable: slowerStable, weightPercent: 5, errorKinds: [.http5xx])
        #expect(judge.slowThreshold == threshold)
    }
}

@Suite struct SequentialRolloutTests {
    func route(latency: SequentialPolicy.LatencyTest = .slowEvents(thresholdSeconds: nil)) -> RouteDefinition {
        // As the config makes it: under the sequential judge only written-down checks apply.
        var route = RolloutStateMachineTests.route(checks: [])
        route.policy.judge = .sequential(SequentialPolicy(latency: latency))
        return route
    }

    func scenario(canary: Scenario.VersionBehavior, minutes: Int = 10) -> Scenario {
        Scenario(phases: [
            Scenario.Phase(duration: .seconds(60 * minutes), rps: 200, stable: .init(errorRate: 0.01), canary: canary)
        ])
    }

    @Test func aFivePointRegressionIsRolledBackInSecondsWithTheEvidence() throws {
        let outcome = RolloutSimulator(route: route(), scenario: scenario(canary: .init(errorRate: 0.06))).run(seed: 4)
        #expect(outcome.endedRolledBack)
        let decidedAt = try #require(outcome.decidedAt)
        #expect(decidedAt < .seconds(60), "threshold checks need 60 s here; the judge took \(decidedAt)")
        let reason = try #require(outcome.decisions.last?.transition.reason)
        #expect(reason.contains("rolled back by the sequential judge: e="))
        #expect(reason.contains("≥ 100 (α=0.01): canary errors"))
    }

    @Test func aHealthyCanaryIsPromotedNoSlowerThanWithThresholds() {
        let outcome = RolloutSimulator(route: route(), scenario: scenario(canary: .init(errorRate: 0.01))).run(seed: 2)
        #expect(outcome.endedPromoted)
        #expect(outcome.decidedAt.map { $0 <= .seconds(120) } == true, "\(String(describing: outcome.decidedAt))")
    }

    /// Without proof of safety a step advances only once the canary served `min_requests` in it:
    /// at 20 rps and 5 % that is about 100 s, not the 30 s maximum step time.
    @Test func withLittleTrafficAStepWaitsForMinRequests() throws {
        let quiet = Scenario(phases: [
            Scenario.Phase(duration: .seconds(600), rps: 20, stable: .init(), canary: .init())
        ])
        let outcome = RolloutSimulator(route: route(), scenario: quiet).run(seed: 1)
        let first = try #require(outcome.decisions.first)
        #expect(first.at >= .seconds(80))
        #expect(first.transition.reason.contains("no regression in"))
        #expect(first.transition.reason.contains("n=10"))
    }
}
