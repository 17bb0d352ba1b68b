import Testing
import WeirCore

/// `steps: [shadow, …]`: the canary answers nobody and walks on only once shown to agree.
@Suite struct ShadowStepTests {
    typealias Machine = RolloutStateMachine<VirtualClock>

    static func route(checks: [Check] = [], sequential: Bool = true) -> RouteDefinition {
        var route = RolloutStateMachineTests.route(
            steps: [RolloutPolicy.Step(shadow: ())] + [5, 50].map { .init(weight: $0) }, checks: checks)
        route.shadow = ShadowSettings(versionIndex: 1, compare: OutputComparator(kind: .json))
        if sequential { route.policy.judge = .sequential(SequentialPolicy(minBakeTime: .seconds(10))) }
        return route
    }

    static func at(_ seconds: Int) -> VirtualClock.Instant { VirtualClock.Instant(offset: .seconds(seconds)) }

    /// A tally of `requests` copies where the candidate differs at `candidate` and the stable's copy at `noise`.
    static func tally(requests: Int, candidate: Double, noise: Double, seed: UInt64 = 1) -> ShadowTally {
        var random = SplitMix64(seed: seed)
        var tally = ShadowTally()
        for _ in 0..<requests {
            tally.record(
                candidate: .init(agree: Double.random(in: 0..<1, using: &random) >= candidate, detail: ""),
                noise: .init(agree: Double.random(in: 0..<1, using: &random) >= noise, detail: ""))
        }
        return tally
    }

    @Test func theShadowStepSendsTheCanaryNothingAndAdvancesOnceAgreementIsShown() throws {
        var machine = Machine(route: Self.route(), status: .initial(for: Self.route()), now: Self.at(0))
        #expect(machine.isShadowStep && machine.status.phase == .progressing)
        #expect(machine.split.canaryBasisPoints == 0)
        // Not enough evidence yet: it holds (whatever time passes, no max_step_time).
        #expect(machine.observeShadow(Self.tally(requests: 50, candidate: 0.02, noise: 0.02), at: Self.at(600)) == nil)
        // Windows of request statistics say nothing at a shadow step.
        #expect(machine.windowEnded(at: Self.at(601), canary: RequestStats(), stable: RequestStats()) == nil)
        let agreeing = Self.tally(requests: 20_000, candidate: 0.05, noise: 0.05)
        #expect(agreeing.agreementTest.eValue >= 100)
        let transitionResult = machine.observeShadow(agreeing, at: Self.at(602))
        let transition = try #require(transitionResult)
        #expect(transition.to.step == 1 && transition.reason.contains("shadow agrees"), "\(transition.reason)")
        #expect(!machine.isShadowStep && machine.split.canaryBasisPoints == 500)
    }

    @Test func aCandidateThatDiffersMoreThanTheNoiseIsRolledBackBeforeServingAnyone() throws {
        var machine = Machine(route: Self.route(), status: .initial(for: Self.route()), now: Self.at(0))
        let differing = Self.tally(requests: 3_000, candidate: 0.06, noise: 0.02)
        let transitionResult = machine.observeShadow(differing, at: Self.at(30))
        let transition = try #require(transitionResult)
        #expect(transition.to.phase == .rolledBack && transition.reason.contains("shadow differs"), "\(transition.reason)")
    }

    @Test func underTheThresholdJudgeShadowChecksDecideEachWindow() throws {
        let checks = [Check(metric: .disagreement, bound: .maxIncrease(0.01))]
        let route = Self.route(checks: checks, sequential: false)
        var machine = Machine(route: route, status: .initial(for: route), now: Self.at(0))
        // Before the window ends nothing is judged; then 3 % against a 2 % floor passes (max_increase 1 %).
        #expect(machine.observeShadow(Self.tally(requests: 1_000, candidate: 0.02, noise: 0.02, seed: 4), at: Self.at(10)) == nil)
        let passingResult = machine.observeShadow(Self.tally(requests: 1_000, candidate: 0.02, noise: 0.02, seed: 4), at: Self.at(31))
        let passing = try #require(passingResult)
        #expect(passing.to.step == 1 && passing.reason.contains("shadow checks passed"), "\(passing.reason)")
        // Another rollout whose shadow disagrees 8 % against 2 %: two failed windows roll it back.
        var failing = Machine(route: route, status: .initial(for: route), now: Self.at(0))
        let bad = Self.tally(requests: 300, candidate: 0.08, noise: 0.02, seed: 5)
        #expect(bad.excessTest.eValue < 100)
        let firstResult = failing.observeShadow(bad, at: Self.at(31))
        let first = try #require(firstResult)
        #expect(first.to.phase == .progressing && first.reason.contains("shadow window failed (1/2)"), "\(first.reason)")
        let secondResult = failing.observeShadow(bad, at: Self.at(62))
        let second = try #require(secondResult)
        #expect(second.to.phase == .rolledBack, "\(second.reason)")
    }
}
