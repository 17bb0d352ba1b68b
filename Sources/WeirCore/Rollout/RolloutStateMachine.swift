/// The rollout state machine of one route (CONTRACT §4): analysis windows and operator commands
/// in, transitions out. A plain value with no I/O and no clock of its own — time arrives as
/// instants of `C` — so tests and `weir simulate` drive it on virtual time, and the controller
/// persists each returned transition before applying its weights.
public struct RolloutStateMachine<C: Clock>: Sendable where C.Duration == Duration, C.Instant: Sendable {
    public let route: RouteDefinition
    public private(set) var status: RolloutStatus
    /// When the current analysis window began.
    public private(set) var windowStart: C.Instant
    /// Measurements before this instant are not judged (warm-up after a weight change).
    public private(set) var measureFrom: C.Instant
    /// When the current promotion happened, for `undo`'s rollback window.
    public private(set) var promotedAt: C.Instant?
    /// The verdict of the last window, shown to operators.
    public private(set) var lastVerdict: Verdict?
    /// The sequential judge of the running rollout, when the policy uses one.
    public private(set) var judge: SequentialJudge?
    /// When the current step (or the resumption of it) began.
    public private(set) var stepStartedAt: C.Instant
    /// Canary requests seen by the sequential judge in the current step.
    public private(set) var canaryRequestsInStep: UInt64 = 0
    /// Whether this hold already raised its alert (`on_hold: alert`), so it is raised once.
    private var alertedInHold = false
    /// Under the sequential judge with `checks`: whether a window of this step passed them. A step
    /// advances only then, so every configured check counts.
    public private(set) var checksPassedInStep = false

    private var policy: RolloutPolicy { route.policy }

    /// A machine resuming `status` at `now`; the first window starts now, after a warm-up.
    /// `promotedAt` restores when a stored promotion happened (default: now).
    public init(route: RouteDefinition, status: RolloutStatus, now: C.Instant, promotedAt: C.Instant? = nil) {
        self.route = route
        self.status = status
        self.windowStart = now
        self.measureFrom = now.advanced(by: route.policy.warmup)
        self.promotedAt = status.phase == .promoted ? (promotedAt ?? now) : nil
        self.stepStartedAt = now
    }

    /// Whether the running window began with a warm-up (after a weight change). Callers that
    /// measure in whole seconds round the start up then, and down otherwise, so consecutive
    /// windows neither overlap nor leave a gap.
    public var windowBeganWithWarmup: Bool { measureFrom > windowStart }

    /// When the running window ends.
    public var windowEnd: C.Instant { windowStart.advanced(by: policy.interval) }

    /// Whether the running window has ended and wants a verdict: a progressing rollout's, and a
    /// held one's (held canaries stay judged). Under the sequential judge, windows judge the
    /// configured `checks` (none configured: no windows).
    public func isWindowDue(at now: C.Instant) -> Bool {
        guard status.phase == .progressing || status.phase == .paused, now >= windowEnd else { return false }
        return policy.sequential == nil || !policy.checks.isEmpty
    }

    /// Whether the canary is held: paused by an operator or a `pause: true` step, waiting for a
    /// manual promotion, or pinned by `set-weight`.
    public var isHeld: Bool { status.phase == .paused && status.canary != nil }

    /// The traffic split the current state means.
    public var split: TrafficSplit { status.split(for: route) }

    /// Whether the rollout stands at a shadow step: the canary answers nobody and is judged on the
    /// shadow's comparisons (`observeShadow`).
    public var isShadowStep: Bool {
        guard status.phase == .progressing || status.phase == .paused, status.canary != nil,
            status.pinnedPercent == nil, !policy.steps.isEmpty
        else { return false }
        return policy.steps[min(status.step, policy.steps.count - 1)].shadow
    }

    // MARK: Analysis

    /// Judges the window that just ended on what canary and stable served over `[measureFrom, now)`.
    /// Returns the transition it causes, if any; an inconclusive or passing-but-not-yet-advancing
    /// window only starts the next one.
    public mutating func windowEnded(at now: C.Instant, canary: RequestStats, stable: RequestStats)
        -> RolloutTransition?
    {
        guard status.phase == .progressing || isHeld, status.canary != nil, !isShadowStep else {
            // A shadow step's windows are judged on its comparisons (`observeShadow`).
            if !isShadowStep { startWindow(at: now, warmup: false) }
            return nil
        }
        if let judge, judge.sharedTrouble {
            // Shared trouble: neither version's numbers say anything about the canary now.
            lastVerdict = .inconclusive(reason: judge.troubleDescription)
            startWindow(at: now, warmup: false)
            return nil
        }
        let verdict = WindowAnalysis.judge(canary: canary, stable: stable, policy: policy)
        // Under the sequential judge its own watching verdict stays on show unless a check fails.
        if policy.sequential == nil || verdict.name == "failure" { lastVerdict = verdict }
        var next = status
        switch verdict {
        case .inconclusive:
            startWindow(at: now, warmup: false)
            return nil
        case .success(let reason):
            // A held canary stays held, and the sequential judge advances on its own evidence.
            guard isHeld || policy.sequential != nil else { return advance(at: now, reason: reason) }
            checksPassedInStep = true
            guard status.consecutiveFailures > 0 else {
                startWindow(at: now, warmup: false)
                return nil
            }
            next.consecutiveFailures = 0
            return apply(
                next, at: now, actor: .policy, kind: .recovered,
                reason: "window passed after \(status.consecutiveFailures) failed: \(reason)")
        case .failure(let reason):
            next.consecutiveFailures = status.consecutiveFailures + 1
            if next.consecutiveFailures >= policy.failureLimit {
                let windows = "\(next.consecutiveFailures) failed window\(next.consecutiveFailures == 1 ? "" : "s")"
                if isHeld && policy.onHold == .alert {
                    next.consecutiveFailures = 0
                    return apply(
                        next, at: now, actor: .policy, kind: .alert,
                        reason: "held canary failed \(windows) (on_hold: alert, weight kept): \(reason)")
                }
                return rollback(
                    at: now, actor: .policy,
                    reason: "rolled back after \(windows)\(isHeld ? " while held" : ""): \(reason)"
                )
            }
            return apply(
                next, at: now, actor: .policy, kind: .failedWindow,
                reason: "window failed (\(next.consecutiveFailures)/\(policy.failureLimit)): \(reason)")
        }
    }

    /// Moves a progressing canary one step on (pausing at a `pause: true` step) or, after the
    /// last step, promotes it (`promote: auto`) or holds it for an operator (`manual`).
    private mutating func advance(at now: C.Instant, reason: String) -> RolloutTransition {
        let canaryName = status.canary ?? status.stable
        var next = status
        next.consecutiveFailures = 0
        let last = policy.steps.count - 1
        if status.step >= last {
            if policy.promote == .auto {
                return promote(
                    at: now, actor: .policy, reason: "step \(status.step) passed: \(reason); \(canaryName) promoted")
            }
            next.phase = .paused
            return apply(
                next, at: now, actor: .policy, kind: .pause,
                reason: "last step passed: \(reason); waiting for weirctl promote (promote: manual)")
        }
        next.step = status.step + 1
        next.pinnedPercent = nil
        let pauses = policy.steps[next.step].pause
        if pauses { next.phase = .paused }
        let arrow = "step \(status.step) -> \(next.step): \(reason)"
        return apply(
            next, at: now, actor: .policy, kind: pauses ? .pause : .step,
            reason: pauses
                ? arrow + "; paused at \(Format.weight(policy.steps[next.step].weight))% (pause: true)" : arrow)
    }

    // MARK: Shadow steps

    /// Judges a shadow step on the shadow's comparisons since the step began (called every tick):
    /// rolls back once the candidate is shown to differ more than the stable's own noise (or its
    /// shadow checks fail `failure_limit` windows); advances only once it is shown to agree — by
    /// the agreement test after `min_bake_time` under the sequential judge, by passing shadow
    /// checks under the threshold judge (or, without shadow checks, by the agreement test).
    public mutating func observeShadow(_ tally: ShadowTally, at now: C.Instant) -> RolloutTransition? {
        guard status.phase == .progressing, isShadowStep else { return nil }
        let evidence = ShadowAnalysis.evidence(tally, policy: policy)
        if case .failure(let reason)? = evidence {
            lastVerdict = .failure(reason: reason)
            return rollback(at: now, actor: .policy, reason: "rolled back at the shadow step: \(reason)")
        }
        let hasChecks = policy.checks.contains { $0.metric.isShadow }
        var checksPassed = !hasChecks || checksPassedInStep
        if isWindowDue(at: now) {
            let verdict = ShadowAnalysis.checks(tally, policy: policy)
            startWindow(at: now, warmup: false)
            if hasChecks { lastVerdict = verdict }
            switch verdict {
            case .inconclusive: break
            case .success:
                checksPassedInStep = true
                checksPassed = true
                if status.consecutiveFailures > 0 {
                    var next = status
                    next.consecutiveFailures = 0
                    return apply(next, at: now, actor: .policy, kind: .recovered, reason: "shadow window passed: \(verdict.reason)")
                }
                if hasChecks && policy.sequential == nil {
                    return advance(at: now, reason: "shadow step passed: \(verdict.reason)")
                }
            case .failure(let reason):
                guard hasChecks else { break }
                var next = status
                next.consecutiveFailures = status.consecutiveFailures + 1
                if next.consecutiveFailures >= policy.failureLimit {
                    return rollback(
                        at: now, actor: .policy,
                        reason: "rolled back at the shadow step after \(next.consecutiveFailures) failed windows: \(reason)")
                }
                return apply(
                    next, at: now, actor: .policy, kind: .failedWindow,
                    reason: "shadow window failed (\(next.consecutiveFailures)/\(policy.failureLimit)): \(reason)")
            }
        }
        guard case .success(let reason)? = evidence, checksPassed else { return nil }
        if hasChecks && policy.sequential == nil { return nil }
        let bake = policy.sequential?.minBakeTime ?? .zero
        guard stepStartedAt.duration(to: now) >= bake else { return nil }
        lastVerdict = .success(reason: reason)
        return advance(at: now, reason: reason)
    }

    // MARK: Sequential judging

    /// Feeds one second of traffic to the sequential judge (policies with `judge: sequential`).
    /// Rolls back the moment the evidence reaches 1/α; advances a step once the canary is shown
    /// safe (after the minimum bake time) or, failing proof, after the maximum step time when it
    /// served at least `min_requests` and no regression was found.
    public mutating func observeSecond(canary: RequestStats, stable: RequestStats, at now: C.Instant)
        -> RolloutTransition?
    {
        observeSecond(
            slices: [RoutedSlice(weightPercent: status.canaryPercent(policy: policy), canary: canary, stable: stable)],
            at: now)
    }

    /// One second's traffic routed under one canary weight: what the judge needs to know ρ.
    public struct RoutedSlice: Sendable {
        public var weightPercent: Double
        public var canary: RequestStats
        public var stable: RequestStats
        public init(weightPercent: Double, canary: RequestStats, stable: RequestStats) {
            self.weightPercent = weightPercent
            self.canary = canary
            self.stable = stable
        }
    }

    /// Feeds one second of traffic split by the weight each request was routed under: every
    /// slice is judged at its own ρ, and only slices routed under the weight in force now count
    /// for this step (its safety proof and its `min_requests`).
    public mutating func observeSecond(slices: [RoutedSlice], at now: C.Instant) -> RolloutTransition? {
        guard let settings = policy.sequential, status.phase == .progressing || status.phase == .paused,
            status.canary != nil, !isShadowStep
        else {
            return nil
        }
        var judge = self.judge ?? SequentialJudge(policy: settings)
        let current = status.canaryPercent(policy: policy)
        for slice in slices {
            let ofThisStep = abs(slice.weightPercent - current) < 0.005
            judge.observe(
                canary: slice.canary, stable: slice.stable, weightPercent: slice.weightPercent,
                errorKinds: policy.errors, forSafety: ofThisStep)
            if ofThisStep { canaryRequestsInStep += slice.canary.requests }
        }
        self.judge = judge
        if let reason = judge.rollbackReason {
            lastVerdict = .failure(reason: reason)
            // Held canaries stay judged: the evidence acts on them too.
            if status.phase == .progressing || policy.onHold == .rollback {
                return rollback(
                    at: now, actor: .policy,
                    reason: "rolled back by the sequential judge\(isHeld ? " while held" : ""): \(reason)")
            }
            guard !alertedInHold else { return nil }
            alertedInHold = true
            return apply(
                status, at: now, actor: .policy, kind: .alert,
                reason: "held canary: the sequential judge found a regression (on_hold: alert, weight kept): \(reason)")
        }
        if judge.sharedTrouble {
            // The step's checks start again once the trouble has passed.
            measureFrom = max(measureFrom, now)
            if status.phase == .progressing { lastVerdict = .inconclusive(reason: judge.troubleDescription) }
            return nil
        }
        guard status.phase == .progressing else { return nil }
        if status.consecutiveFailures > 0 {
            lastVerdict = .inconclusive(
                reason: "holding: the last window failed its checks (\(status.consecutiveFailures)/\(policy.failureLimit))")
            return nil
        }
        let checksAllow = policy.checks.isEmpty || checksPassedInStep
        let inStep = stepStartedAt.duration(to: now)
        let maxStepTime = settings.maxStepTime ?? policy.interval
        let reason: String
        if !checksAllow && (judge.safetyShown || inStep >= maxStepTime) {
            lastVerdict = .inconclusive(reason: "waiting for a window of this step to pass its checks (\(judge.evidence()))")
            return nil
        } else if inStep >= settings.minBakeTime && judge.safetyShown {
            reason =
                "canary shown no worse than \(Format.decimal(settings.r0, places: 1))x stable (e=\(Format.decimal(min(judge.safety.eValue, 1e12), places: 1)) ≥ \(Format.decimal(judge.rejectionThreshold, places: 0)))"
        } else if inStep >= maxStepTime && canaryRequestsInStep >= UInt64(policy.minRequests) {
            reason = "no regression in \(Self.seconds(inStep))s, n=\(canaryRequestsInStep) (\(judge.evidence()))"
        } else {
            lastVerdict = .inconclusive(reason: "watching: \(judge.evidence())")
            return nil
        }
        lastVerdict = .success(reason: reason)
        return advance(at: now, reason: reason)
    }

    private static func seconds(_ duration: Duration) -> Int64 { duration.components.seconds }

    /// The sequential judge's state to store, while a rollout it judges runs.
    public var judgeSnapshot: SequentialJudge.Snapshot? {
        guard let judge, let canary = status.canary, status.phase == .progressing || status.phase == .paused else {
            return nil
        }
        return judge.snapshot(canary: canary, stable: status.stable, canaryRequestsInStep: canaryRequestsInStep)
    }

    /// Continues a stored judge after a restart, when it belongs to this rollout and policy;
    /// false (and a fresh judge later) otherwise.
    @discardableResult
    public mutating func restoreJudge(_ snapshot: SequentialJudge.Snapshot) -> Bool {
        guard let settings = policy.sequential, status.phase == .progressing || status.phase == .paused,
            snapshot.canary == status.canary, snapshot.stable == status.stable,
            let restored = SequentialJudge(policy: settings, restoring: snapshot)
        else { return false }
        judge = restored
        canaryRequestsInStep = snapshot.canaryRequestsInStep
        return true
    }

    // MARK: Commands

    /// Applies an operator's command, or says why it cannot apply.
    public mutating func handle(_ command: RolloutCommand, at now: C.Instant) -> Result<
        RolloutTransition, RolloutRefusal
    > {
        if let refusal = refusal(of: command, at: now) { return .failure(refusal) }
        var next = status
        switch command {
        case .promote(let full):
            if full || status.step >= policy.steps.count - 1 {
                return .success(
                    promote(at: now, actor: .admin, reason: "promoted by operator" + (full ? " (full)" : "")))
            }
            next.step = status.step + 1
            next.pinnedPercent = nil
            next.phase = policy.steps[next.step].pause ? .paused : .progressing
            return .success(
                apply(
                    next, at: now, actor: .admin, kind: .step, reason: "step \(status.step) -> \(next.step) by operator"
                ))
        case .pause:
            next.phase = .paused
            return .success(apply(next, at: now, actor: .admin, kind: .pause, reason: "paused by operator"))
        case .resume:
            next.phase = .progressing
            next.pinnedPercent = nil
            return .success(apply(next, at: now, actor: .admin, kind: .resume, reason: "resumed by operator"))
        case .retry:
            next = RolloutStatus(phase: .progressing, step: 0, stable: status.stable, canary: status.canary)
            judge = nil
            return .success(
                apply(next, at: now, actor: .admin, kind: .retry, reason: "retry by operator: starting again at step 0")
            )
        case .rollback(let reason):
            return .success(
                rollback(at: now, actor: .admin, reason: "rolled back by operator" + (reason.map { ": \($0)" } ?? "")))
        case .setWeight(let percent):
            next.phase = .paused
            next.pinnedPercent = percent
            return .success(
                apply(
                    next, at: now, actor: .admin, kind: .weight,
                    reason: "canary weight pinned at \(Format.weight(percent))% by operator; policy paused"))
        case .undo:
            next = RolloutStatus(
                phase: .rolledBack, step: status.step, stable: status.previousStable ?? status.stable,
                canary: status.stable)
            promotedAt = nil
            return .success(
                apply(
                    next, at: now, actor: .admin, kind: .rollback,
                    reason: "promotion undone by operator: all traffic back to \(next.stable)"))
        }
    }

    private func refusal(of command: RolloutCommand, at now: C.Instant) -> RolloutRefusal? {
        let phase = status.phase
        let active = phase == .progressing || phase == .paused
        switch command {
        case .promote, .rollback, .setWeight:
            if active {
                if case .setWeight(let percent) = command, !(0...100).contains(percent) {
                    return RolloutRefusal(code: "bad_weight", message: "a canary weight is 0–100 %, not \(percent)")
                }
                return nil
            }
            return inactiveRefusal(for: command)
        case .pause:
            if phase == .progressing { return nil }
            if phase == .paused {
                return RolloutRefusal(code: "already_paused", message: "the rollout of \(route.name) is already paused")
            }
            return inactiveRefusal(for: command)
        case .resume:
            if phase == .paused { return nil }
            if phase == .progressing {
                return RolloutRefusal(code: "not_paused", message: "the rollout of \(route.name) is not paused")
            }
            return inactiveRefusal(for: command)
        case .retry:
            if phase == .rolledBack, status.canary != nil { return nil }
            return RolloutRefusal(
                code: "not_rolled_back",
                message: "only a rolled-back canary can be retried; \(route.name) is \(phase.rawValue)")
        case .undo:
            guard phase == .promoted, status.previousStable != nil else {
                return RolloutRefusal(
                    code: "not_promoted", message: "undo reverses a promotion; \(route.name) is \(phase.rawValue)")
            }
            guard let promotedAt, now < promotedAt.advanced(by: policy.rollbackWindow) else {
                return RolloutRefusal(
                    code: "rollback_window_passed",
                    message:
                        "the rollback window (\(policy.rollbackWindow)) after the promotion of \(status.stable) has passed"
                )
            }
            return nil
        }
    }

    private func inactiveRefusal(for command: RolloutCommand) -> RolloutRefusal {
        switch status.phase {
        case .idle:
            RolloutRefusal(
                code: "no_canary", message: "\(route.name) has no canary; name one in the config to start a rollout")
        case .promoted:
            RolloutRefusal(
                code: "already_promoted",
                message: "\(route.name)'s canary \(status.stable) is already promoted"
                    + (command.name == "rollback" ? "; use undo to go back" : ""))
        case .rolledBack:
            RolloutRefusal(
                code: "already_rolled_back", message: "\(route.name)'s canary is rolled back; use retry to start again")
        case .progressing, .paused:
            RolloutRefusal(code: "refused", message: "\(command.name) does not apply now")
        }
    }

    // MARK: Transitions

    private mutating func promote(at now: C.Instant, actor: RolloutActor, reason: String) -> RolloutTransition {
        let canary = status.canary ?? status.stable
        let next = RolloutStatus(
            phase: .promoted, step: policy.steps.count - 1, stable: canary, canary: canary,
            previousStable: status.stable)
        promotedAt = now
        return apply(next, at: now, actor: actor, kind: .promote, reason: reason)
    }

    private mutating func rollback(at now: C.Instant, actor: RolloutActor, reason: String) -> RolloutTransition {
        var next = status
        next.phase = .rolledBack
        next.pinnedPercent = nil
        next.consecutiveFailures = max(status.consecutiveFailures, actor == .policy ? policy.failureLimit : 0)
        return apply(next, at: now, actor: actor, kind: .rollback, reason: reason)
    }

    private mutating func apply(
        _ next: RolloutStatus, at now: C.Instant, actor: RolloutActor, kind: RolloutTransition.Kind, reason: String
    ) -> RolloutTransition {
        let transition = RolloutTransition(
            route: route.name, from: status, to: next, weights: next.weights(policy: policy), actor: actor,
            reason: reason, kind: kind
        )
        let weightsChanged = transition.changesWeights(policy: policy)
        if weightsChanged || next.phase != status.phase || next.step != status.step {
            stepStartedAt = now
            canaryRequestsInStep = 0
            alertedInHold = false
            checksPassedInStep = false
            // The safety proof speaks of one step's weight; the rollback tests keep their history.
            judge?.startStep()
        }
        status = next
        startWindow(at: now, warmup: weightsChanged)
        return transition
    }

    /// Starts the next window at `now`. Under the sequential judge a progressing step's checks
    /// are judged on everything since the step began (after its warm-up), so a quiet canary
    /// gathers `min_requests` over the step as the judge does; otherwise each window is fresh.
    private mutating func startWindow(at now: C.Instant, warmup: Bool) {
        windowStart = now
        if warmup {
            measureFrom = now.advanced(by: policy.warmup)
        } else if policy.sequential == nil || status.phase != .progressing {
            measureFrom = max(measureFrom, now)
        }
    }
}
