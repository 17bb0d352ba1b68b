import Testing
import WeirCore

@Suite struct RolloutStateMachineTests {
    typealias Machine = RolloutStateMachine<VirtualClock>

    static func route(
        steps: [RolloutPolicy.Step] = [5, 10, 25, 50].map { .init(weight: $0) },
        promote: RolloutPolicy.PromoteMode = .auto,
        checks: [Check] = [Check(metric: .errorRate, bound: .maxIncrease(0.02))],
        failureLimit: Int = 2
    ) -> RouteDefinition {
        RouteDefinition(
            name: "fraud", match: RouteMatch(pathPrefix: "/"), timeout: .seconds(10),
            versions: [
                VersionDefinition(name: "v1", upstreams: [UpstreamAddress(scheme: .http, host: "127.0.0.1", port: 1)]),
                VersionDefinition(name: "v2", upstreams: [UpstreamAddress(scheme: .http, host: "127.0.0.1", port: 2)]),
            ],
            stableIndex: 0, canaryIndex: 1, sticky: nil,
            policy: RolloutPolicy(
                steps: steps, interval: .seconds(30), warmup: .seconds(10), minRequests: 100,
                failureLimit: failureLimit,
                promote: promote, checks: checks
            )
        )
    }

    /// `n` requests with `errors` 500s and the given latency.
    static func stats(_ n: Int, errors: Int = 0, millis: UInt64 = 10) -> RequestStats {
        var stats = RequestStats()
        for index in 0..<n {
            stats.record(
                RequestOutcome(
                    status: index < errors ? 500 : 200, failure: nil, firstByteNanos: millis * 1_000_000 / 2,
                    totalNanos: millis * 1_000_000))
        }
        return stats
    }

    var start: VirtualClock.Instant { VirtualClock.Instant(offset: .zero) }

    func at(_ seconds: Int) -> VirtualClock.Instant { start.advanced(by: .seconds(seconds)) }

    func newMachine(_ route: RouteDefinition = route()) -> Machine {
        Machine(route: route, status: .initial(for: route), now: start)
    }

    @Test func healthyCanaryWalksEveryStepAndIsPromoted() {
        var machine = newMachine()
        #expect(machine.status.phase == .progressing && machine.split.canaryBasisPoints == 500)
        var time = 0
        var weights: [Double] = []
        while machine.status.phase == .progressing {
            time += 30
            #expect(machine.isWindowDue(at: at(time)))
            let transition = machine.windowEnded(
                at: at(time), canary: Self.stats(400, errors: 1), stable: Self.stats(4000, errors: 10))
            #expect(transition != nil)
            weights.append(machine.status.canaryPercent(policy: machine.route.policy))
        }
        #expect(machine.status.phase == .promoted)
        #expect(machine.status.stable == "v2")
        #expect(machine.status.previousStable == "v1")
        #expect(weights == [10, 25, 50, 0])
        #expect(machine.split == .allTo(1))
        #expect(time == 120)
    }

    @Test func errorRegressionRollsBackAfterExactlyFailureLimitWindows() {
        var machine = newMachine()
        let first = machine.windowEnded(
            at: at(30), canary: Self.stats(400, errors: 44), stable: Self.stats(4000, errors: 40))
        #expect(first?.kind == .failedWindow)
        #expect(machine.status.phase == .progressing && machine.status.consecutiveFailures == 1)
        #expect(machine.split.canaryBasisPoints == 500)
        let second = machine.windowEnded(
            at: at(60), canary: Self.stats(400, errors: 44), stable: Self.stats(4000, errors: 40))
        #expect(second?.kind == .rollback)
        #expect(second?.actor == .policy)
        #expect(machine.status.phase == .rolledBack)
        #expect(machine.split.canaryBasisPoints == 0)
        #expect(second?.weights == ["v1": 100, "v2": 0])
        #expect(
            second?.reason.contains("error_rate 11.0% > stable 1.0% + 2.0% (n=400)") == true, "\(second?.reason ?? "")")
        // Stays rolled back.
        #expect(machine.windowEnded(at: at(90), canary: Self.stats(400), stable: Self.stats(4000)) == nil)
        #expect(machine.status.phase == .rolledBack)
    }

    @Test func aSuccessBetweenFailuresResetsTheCount() {
        var machine = newMachine()
        _ = machine.windowEnded(at: at(30), canary: Self.stats(400, errors: 100), stable: Self.stats(4000))
        _ = machine.windowEnded(at: at(60), canary: Self.stats(400), stable: Self.stats(4000))
        #expect(machine.status.consecutiveFailures == 0 && machine.status.step == 1)
        _ = machine.windowEnded(at: at(90), canary: Self.stats(400, errors: 100), stable: Self.stats(4000))
        #expect(machine.status.phase == .progressing)
    }

    @Test func latencyRegressionOverMaxRatioRollsBack() {
        var machine = newMachine(
            Self.route(checks: [Check(metric: .latency(percentile: 99), bound: .maxRatio(1.5))], failureLimit: 1))
        let transition = machine.windowEnded(
            at: at(30), canary: Self.stats(400, millis: 40), stable: Self.stats(4000, millis: 20))
        #expect(machine.status.phase == .rolledBack)
        #expect(
            transition?.reason.contains("latency_p99 40.0ms = 2.00x stable 20.0ms > max_ratio 1.50") == true,
            "\(transition?.reason ?? "")")
        var healthy = newMachine(
            Self.route(checks: [Check(metric: .latency(percentile: 99), bound: .maxRatio(1.5))], failureLimit: 1))
        _ = healthy.windowEnded(at: at(30), canary: Self.stats(400, millis: 25), stable: Self.stats(4000, millis: 20))
        #expect(healthy.status.phase == .progressing && healthy.status.step == 1)
    }

    @Test func absoluteLatencyAndTimeToFirstByteChecks() {
        let checks = [Check(metric: .timeToFirstByte(percentile: 95), bound: .max(0.030))]
        var machine = newMachine(Self.route(checks: checks, failureLimit: 1))
        let transition = machine.windowEnded(
            at: at(30), canary: Self.stats(400, millis: 100), stable: Self.stats(4000, millis: 100))
        #expect(transition?.reason.contains("ttfb_p95 50.0ms > max 30.0ms") == true, "\(transition?.reason ?? "")")
    }

    @Test func lowTrafficStaysInconclusiveAndNeverPromotes() {
        var machine = newMachine()
        for window in 1...50 {
            #expect(machine.windowEnded(at: at(30 * window), canary: Self.stats(99), stable: Self.stats(4000)) == nil)
        }
        #expect(machine.status.phase == .progressing && machine.status.step == 0)
        #expect(machine.lastVerdict == .inconclusive(reason: "too few canary requests: n=99 < min_requests 100"))
    }

    @Test func pauseStepWaitsForResume() {
        var machine = newMachine(
            Self.route(steps: [.init(weight: 5), .init(weight: 20, pause: true), .init(weight: 50)]))
        let toPause = machine.windowEnded(at: at(30), canary: Self.stats(400), stable: Self.stats(4000))
        #expect(toPause?.kind == .pause)
        #expect(machine.status.phase == .paused && machine.status.step == 1)
        #expect(machine.split.canaryBasisPoints == 2000)
        // Held canaries stay judged; a passing window does not move them on.
        #expect(machine.isWindowDue(at: at(3000)))
        #expect(machine.windowEnded(at: at(3000), canary: Self.stats(400), stable: Self.stats(4000)) == nil)
        #expect(machine.status.phase == .paused && machine.status.step == 1)
        let resumed = machine.handle(.resume, at: at(3010))
        #expect((try? resumed.get())?.actor == .admin)
        #expect(machine.status.phase == .progressing && machine.status.step == 1)
        _ = machine.windowEnded(at: at(3040), canary: Self.stats(400), stable: Self.stats(4000))
        #expect(machine.status.step == 2)
    }

    @Test func manualPromotionHoldsAtTheLastStep() {
        var machine = newMachine(Self.route(steps: [.init(weight: 50)], promote: .manual))
        let held = machine.windowEnded(at: at(30), canary: Self.stats(400), stable: Self.stats(4000))
        #expect(held?.kind == .pause)
        #expect(machine.status.phase == .paused && machine.split.canaryBasisPoints == 5000)
        let promoted = machine.handle(.promote(full: false), at: at(40))
        #expect((try? promoted.get())?.kind == .promote)
        #expect(machine.status.phase == .promoted)
    }

    @Test func warmupIsExcludedFromTheMeasuredWindow() {
        var machine = newMachine()
        #expect(machine.measureFrom == at(10))
        #expect(machine.windowEnd == at(30))
        _ = machine.windowEnded(at: at(30), canary: Self.stats(400), stable: Self.stats(4000))
        // The weight changed: the next window excludes the next 10 s.
        #expect(machine.measureFrom == at(40))
        #expect(machine.windowEnd == at(60))
        _ = machine.windowEnded(at: at(60), canary: Self.stats(10), stable: Self.stats(4000))
        // Inconclusive: no weight change, so no new warm-up.
        #expect(machine.measureFrom == at(60))
    }

    // MARK: Commands from every state

    /// Puts a fresh machine into `phase`.
    func machine(in phase: RolloutPhase) -> Machine {
        var machine = newMachine()
        switch phase {
        case .progressing: break
        case .paused: _ = machine.handle(.pause, at: at(1))
        case .promoted: _ = machine.handle(.promote(full: true), at: at(1))
        case .rolledBack: _ = machine.handle(.rollback(reason: "test"), at: at(1))
        case .idle:
            var route = Self.route()
            route.canaryIndex = nil
            machine = Machine(route: route, status: .initial(for: route), now: start)
        }
        #expect(machine.status.phase == phase)
        return machine
    }

    static let commands: [RolloutCommand] = [
        .promote(full: false), .promote(full: true), .pause, .resume, .retry, .rollback(reason: "bad"), .setWeight(30),
        .undo,
    ]

    /// The phase each command leads to from each phase; nil = refused.
    static let expected: [RolloutPhase: [String: RolloutPhase?]] = [
        .idle: [
            "promote": nil, "promote-full": nil, "pause": nil, "resume": nil, "retry": nil, "rollback": nil,
            "set-weight": nil, "undo": nil,
        ],
        .progressing: [
            "promote": .progressing, "promote-full": .promoted, "pause": .paused, "resume": nil, "retry": nil,
            "rollback": .rolledBack, "set-weight": .paused, "undo": nil,
        ],
        .paused: [
            "promote": .progressing, "promote-full": .promoted, "pause": nil, "resume": .progressing, "retry": nil,
            "rollback": .rolledBack, "set-weight": .paused, "undo": nil,
        ],
        .promoted: [
            "promote": nil, "promote-full": nil, "pause": nil, "resume": nil, "retry": nil, "rollback": nil,
            "set-weight": nil, "undo": .rolledBack,
        ],
        .rolledBack: [
            "promote": nil, "promote-full": nil, "pause": nil, "resume": nil, "retry": .progressing, "rollback": nil,
            "set-weight": nil, "undo": nil,
        ],
    ]

    @Test(arguments: RolloutPhase.allCases)
    func everyCommandFromEveryStateAppliesOrIsRefusedWithAReason(phase: RolloutPhase) throws {
        for command in Self.commands {
            var machine = machine(in: phase)
            let before = machine.status
            let key = command == .promote(full: true) ? "promote-full" : command.name
            let outcome = machine.handle(command, at: at(5))
            let expectedPhase = try #require(Self.expected[phase]?[key])
            switch outcome {
            case .success(let transition):
                #expect(expectedPhase == machine.status.phase, "\(command) from \(phase)")
                #expect(transition.actor == .admin)
                #expect(transition.from == before)
                #expect(!transition.reason.isEmpty)
            case .failure(let refusal):
                #expect(expectedPhase == nil, "\(command) from \(phase) refused: \(refusal)")
                #expect(machine.status == before)
                #expect(!refusal.message.isEmpty && !refusal.code.isEmpty)
            }
        }
    }

    @Test func refusalsSayWhy() {
        var idle = machine(in: .idle)
        #expect(idle.handle(.rollback(reason: nil), at: at(5)).failureCode == "no_canary")
        var rolledBack = machine(in: .rolledBack)
        #expect(rolledBack.handle(.rollback(reason: nil), at: at(5)).failureCode == "already_rolled_back")
        var paused = machine(in: .paused)
        #expect(paused.handle(.pause, at: at(5)).failureCode == "already_paused")
        var progressing = machine(in: .progressing)
        #expect(progressing.handle(.setWeight(101), at: at(5)).failureCode == "bad_weight")
    }

    @Test func setWeightPinsTheWeightAndPausesThePolicy() throws {
        var machine = newMachine()
        let transition = try machine.handle(.setWeight(33), at: at(5)).get()
        #expect(transition.weights == ["v1": 67, "v2": 33])
        #expect(machine.split.canaryBasisPoints == 3300)
        #expect(machine.isWindowDue(at: at(500)))
        #expect(machine.windowEnded(at: at(500), canary: Self.stats(400), stable: Self.stats(4000)) == nil)
        #expect(machine.split.canaryBasisPoints == 3300)
        _ = machine.handle(.resume, at: at(6))
        #expect(machine.split.canaryBasisPoints == 500)
    }

    @Test func undoWorksOnlyInsideTheRollbackWindow() throws {
        var inside = machine(in: .promoted)
        let undone = try inside.handle(.undo, at: at(1 + 3599)).get()
        #expect(inside.status.phase == .rolledBack)
        #expect(inside.status.stable == "v1")
        #expect(undone.weights == ["v1": 100, "v2": 0])
        #expect(inside.split.stableIndex == 0 && inside.split.canaryBasisPoints == 0)

        var outside = machine(in: .promoted)
        #expect(outside.handle(.undo, at: at(1 + 3600)).failureCode == "rollback_window_passed")
        #expect(outside.status.phase == .promoted)
    }

    @Test func retryStartsAgainAtStepZero() throws {
        var machine = newMachine()
        _ = machine.windowEnded(at: at(30), canary: Self.stats(400), stable: Self.stats(4000))
        _ = machine.handle(.rollback(reason: nil), at: at(40))
        _ = try machine.handle(.retry, at: at(50)).get()
        #expect(
            machine.status.phase == .progressing && machine.status.step == 0 && machine.status.consecutiveFailures == 0)
        #expect(machine.split.canaryBasisPoints == 500)
    }

    @Test func reconcileKeepsTheRunningRolloutOrStartsTheOneTheConfigNames() {
        let route = Self.route()
        let running = RolloutStatus(phase: .progressing, step: 2, stable: "v1", canary: "v2", consecutiveFailures: 1)
        #expect(RolloutStatus.reconcile(stored: running, with: route).status == running)
        let promoted = RolloutStatus(phase: .promoted, step: 3, stable: "v2", canary: "v2", previousStable: "v1")
        #expect(RolloutStatus.reconcile(stored: promoted, with: route).status == promoted)

        var threeVersions = route
        threeVersions.versions.append(
            VersionDefinition(name: "v3", upstreams: [UpstreamAddress(scheme: .http, host: "127.0.0.1", port: 3)]))
        threeVersions.canaryIndex = 2
        let next = RolloutStatus.reconcile(stored: promoted, with: threeVersions)
        #expect(next.status == RolloutStatus(phase: .progressing, step: 0, stable: "v2", canary: "v3"))
        #expect(next.reason?.contains("new canary v3") == true)

        var gone = route
        gone.versions[1].name = "v2b"
        gone.canaryIndex = 1
        #expect(RolloutStatus.reconcile(stored: running, with: gone).status.canary == "v2b")
    }

    // MARK: Held canaries stay judged (issue "Judge v2")

    @Test func aHeldCanaryThatStartsFailingIsRolledBack() throws {
        var machine = newMachine(Self.route(promote: .manual))
        _ = try machine.handle(.pause, at: at(5)).get()
        #expect(machine.isHeld)
        let first = machine.windowEnded(at: at(35), canary: Self.stats(400, errors: 40), stable: Self.stats(4000, errors: 40))
        #expect(first?.kind == .failedWindow)
        #expect(machine.status.phase == .paused)
        let second = machine.windowEnded(at: at(65), canary: Self.stats(400, errors: 40), stable: Self.stats(4000, errors: 40))
        #expect(second?.kind == .rollback)
        #expect(second?.reason.contains("while held") == true)
        #expect(machine.status.phase == .rolledBack)
        #expect(machine.split.canaryBasisPoints == 0)
    }

    @Test func onHoldAlertKeepsTheWeightAndSaysSo() throws {
        var route = Self.route()
        route.policy.onHold = .alert
        var machine = newMachine(route)
        _ = try machine.handle(.setWeight(40), at: at(5)).get()
        _ = machine.windowEnded(at: at(35), canary: Self.stats(400, errors: 40), stable: Self.stats(4000, errors: 40))
        let alert = machine.windowEnded(at: at(65), canary: Self.stats(400, errors: 40), stable: Self.stats(4000, errors: 40))
        #expect(alert?.kind == .alert)
        #expect(alert?.reason.contains("on_hold: alert") == true)
        #expect(machine.status.phase == .paused && machine.split.canaryBasisPoints == 4000)
        #expect(machine.status.consecutiveFailures == 0)
    }

    @Test func aSequentialJudgeRollsBackAHeldCanaryOnItsEvidence() throws {
        var route = Self.route(checks: [])
        route.policy.judge = .sequential(SequentialPolicy(latency: .off))
        var machine = newMachine(route)
        _ = try machine.handle(.pause, at: at(1)).get()
        var rolledBack: RolloutTransition?
        for second in 2..<120 where rolledBack == nil {
            // 5 % weight: 5 % of errors would be the canary's share; here it makes half of them.
            rolledBack = machine.observeSecond(
                canary: Self.stats(10, errors: 2), stable: Self.stats(190, errors: 2), at: at(second))
        }
        #expect(rolledBack?.kind == .rollback)
        #expect(rolledBack?.reason.contains("while held") == true)
    }

    @Test func underTheSequentialJudgeAFailingCheckHoldsTheStepAndRollsBackAtTheLimit() throws {
        var route = Self.route(checks: [Check(metric: .latency(percentile: 50), bound: .maxRatio(1.5))])
        route.policy.judge = .sequential(SequentialPolicy(latency: .off, maxStepTime: .seconds(30), minBakeTime: .seconds(5)))
        var machine = newMachine(route)
        var transitions: [RolloutTransition] = []
        for second in 1...70 {
            let now = at(second)
            // No errors anywhere: only the median check can see that the canary is twice as slow.
            if let transition = machine.observeSecond(
                canary: Self.stats(20, millis: 40), stable: Self.stats(380, millis: 20), at: now)
            {
                transitions.append(transition)
            }
            if machine.isWindowDue(at: now),
                let transition = machine.windowEnded(
                    at: now, canary: Self.stats(600, millis: 40), stable: Self.stats(11_400, millis: 20))
            {
                transitions.append(transition)
            }
        }
        #expect(!transitions.contains { $0.kind == .step || $0.kind == .promote }, "\(transitions.map(\.reason))")
        #expect(transitions.last?.kind == .rollback)
        #expect(transitions.last?.reason.contains("latency_p50") == true)
    }

    @Test func sharedTroubleHoldsTheRolloutAndTheProofStartsAgainEachStep() throws {
        var route = Self.route(checks: [])
        route.policy.judge = .sequential(SequentialPolicy(latency: .off, maxStepTime: .seconds(20), minBakeTime: .seconds(5)))
        var machine = newMachine(route)
        // A healthy baseline first.
        for second in 1...3 {
            _ = machine.observeSecond(canary: Self.stats(10, errors: 0), stable: Self.stats(190, errors: 2), at: at(second))
        }
        // Then a shared outage: a quarter of everyone's requests fail, the canary no worse.
        var advanced = false
        for second in 4...60 {
            let transition = machine.observeSecond(
                canary: Self.stats(10, errors: 3), stable: Self.stats(190, errors: 48), at: at(second))
            advanced = advanced || transition?.kind == .step
        }
        #expect(!advanced, "advanced during a shared outage")
        #expect(machine.judge?.sharedTrouble == true)
        #expect(machine.lastVerdict?.reason.contains("shared trouble") == true)
        #expect(machine.status.step == 0)
        let safety = machine.judge?.safety.eValue ?? 0
        #expect(safety < 2, "the proof grew during the outage: \(safety)")
    }

}

extension Result where Failure == RolloutRefusal {
    var failureCode: String? {
        if case .failure(let refusal) = self { return refusal.code }
        return nil
    }
}

@Suite struct RolloutSimulatorTests {
    let route = RolloutStateMachineTests.route()

    func scenario(canaryErrorRate: Double, minutes: Int = 10) -> Scenario {
        Scenario(phases: [
            Scenario.Phase(
                duration: .seconds(60 * minutes), rps: 200,
                stable: .init(errorRate: 0.01), canary: .init(errorRate: canaryErrorRate)
            )
        ])
    }

    @Test func theSameSeedReplaysTheSameRun() {
        let simulator = RolloutSimulator(route: route, scenario: scenario(canaryErrorRate: 0.03))
        let first = simulator.run(seed: 7)
        let again = simulator.run(seed: 7)
        #expect(first.decisions.map(\.transition) == again.decisions.map(\.transition))
        #expect(first.requests == again.requests)
        let other = simulator.run(seed: 8)
        #expect(other.requests.canary != first.requests.canary)
    }

    @Test func aFivePointErrorRegressionIsRolledBackInTwoWindows() throws {
        let outcome = RolloutSimulator(route: route, scenario: scenario(canaryErrorRate: 0.06)).run(seed: 1)
        #expect(outcome.endedRolledBack)
        #expect(outcome.decidedAt == .seconds(60))
        let last = try #require(outcome.decisions.last)
        #expect(last.transition.reason.contains("error_rate"))
        // The split followed the weights: about 5 % of 200 rps for the first minute.
        #expect(outcome.requests.canary > 450 && outcome.requests.canary < 750)
    }

    @Test func aHealthyCanaryIsPromotedAfterEveryStep() {
        let outcome = RolloutSimulator(route: route, scenario: scenario(canaryErrorRate: 0.01)).run(seed: 3)
        #expect(outcome.endedPromoted)
        #expect(outcome.decidedAt == .seconds(120))
        #expect(outcome.decisions.map(\.transition.kind) == [.step, .step, .step, .promote])
    }

    @Test func tooLittleTrafficNeverDecides() {
        let quiet = Scenario(phases: [
            Scenario.Phase(duration: .seconds(600), rps: 20, stable: .init(), canary: .init())
        ])
        let outcome = RolloutSimulator(route: route, scenario: quiet).run(seed: 1)
        #expect(outcome.decisions.isEmpty)
        #expect(outcome.final.phase == .progressing)
    }
}
