import Foundation
import Logging
import WeirCore
import WeirProxy
import WeirFleet
import WeirStore

/// Drives every route's `RolloutStateMachine` from the live measurements and from operators'
/// commands. A move toward the canary is committed to the store before its weights are published;
/// a safe move (rollback, pause, …) is published at once and handed to the `RolloutStoreWriter`,
/// which persists it as soon as the store allows. Then webhooks are notified. The store is never
/// called on this actor, so a locked or full store stalls neither status reads nor a rollback.
public actor RolloutController {
    /// What an operator sees of one route.
    public struct RouteView: Sendable {
        public var route: RouteDefinition
        public var status: RolloutStatus
        public var split: TrafficSplit
        public var lastVerdict: Verdict?
        /// The current window's statistics per version name.
        public var window: [String: RequestStats]
        /// Pinned requests per version name over the same seconds (never judged).
        public var pinned: [String: RequestStats]
        /// How many seconds the window covers so far.
        public var windowSeconds: Double
        public var lastEvent: RolloutEvent?
        /// Fleet mode: why this instance leaves the route's rollout alone (configs disagree).
        public var disagreement: String?
    }

    private var routes: [RouteDefinition] = []
    private var machines: [String: RolloutStateMachine<UptimeClock>] = [:]
    private var generation: UInt64 = 1
    private var lastEvents: [String: RolloutEvent] = [:]
    /// Bumped each time a route's transition is applied: a decision that waited for the store is
    /// dropped when another was applied meanwhile.
    private var revisions: [String: UInt64] = [:]
    /// The last measurement second fed to each route's sequential judge.
    private var observedThrough: [String: Int64] = [:]
    private let proxy: ProxyServer
    private let writer: RolloutStoreWriter
    private let webhooks: WebhookNotifier
    private let logger: Logger
    private let clock = UptimeClock()

    private let exporter: PrometheusExporter?
    /// In fleet mode: what this instance knows of the fleet; nil for one instance on SQLite.
    private var fleet: FleetView?
    /// Every route's last fifteen minutes, per second, for the dashboard.
    private var series: [String: RouteSeries] = [:]
    /// The last measurement second written to `series`.
    private var seriesThrough: Int64?
    /// Unix seconds minus uptime seconds, fixed at start, so each second maps to one wall time.
    private let unixOffset = Int64(Date().timeIntervalSince1970) - UptimeClock().now.second
    /// How much history the dashboard gets.
    public static let seriesSeconds = 900

    public init(
        proxy: ProxyServer, writer: RolloutStoreWriter, webhooks: WebhookNotifier,
        logger: Logger, exporter: PrometheusExporter? = nil, fleet: FleetView? = nil
    ) {
        self.fleet = fleet
        self.exporter = exporter
        self.proxy = proxy
        self.writer = writer
        self.webhooks = webhooks
        self.logger = logger
    }

    /// Takes a config's routes: resumes each stored rollout that still fits, starts the ones the
    /// config names anew, and publishes the resulting weights.
    public func load(_ routes: [RouteDefinition]) async throws {
        do {
            try proxy.prepareUpstreamTLS(for: routes)
        } catch {
            throw StartupError(message: "cannot set up TLS toward https:// upstreams: \(error)")
        }
        let judges = machines.isEmpty ? try await writer.read { try $0.loadJudges() } : [:]
        var stored = try await writer.read { try $0.loadRollouts() }
        let now = clock.now
        var next: [String: RolloutStateMachine<UptimeClock>] = [:]
        var unchanged: [String] = []
        for route in routes {
            if let running = machines[route.name], running.route == route {
                next[route.name] = running
                unchanged.append(route.name)
                continue
            }
            fleet?.unfitting[route.name] = nil
            let status = try await settle(route, stored: &stored)
            if lastEvents[route.name] == nil {
                let name = route.name
                // Read first, then assign: an actor property must not be in the middle of an
                // assignment while this await lets other calls in.
                let latest = try await writer.read { try $0.events(route: name, limit: 1).first }
                lastEvents[name] = latest
            }
            var machine = RolloutStateMachine<UptimeClock>(
                route: route, status: status, now: now,
                promotedAt: try await promotionInstant(of: route.name, status: status, now: now))
            // After a restart, or a reload that changed the route but not its rollout (same stable,
            // canary and judge settings), the sequential judge continues with the evidence it had:
            // one test per rollout.
            if let snapshot = machines[route.name]?.judgeSnapshot ?? judges[route.name], machine.restoreJudge(snapshot) {
                logger.notice(
                    "sequential judge restored", metadata: ["route": "\(route.name)", "evidence": "\(machine.judge?.evidence() ?? "")"])
            }
            next[route.name] = machine
        }
        // Routes this reload left alone keep whatever happened to them while it waited for the
        // store (a decision, a command, a change another instance stored).
        for name in unchanged {
            if let current = machines[name] { next[name] = current }
        }
        // A shadow whose version or comparison changed starts its evidence again.
        for route in routes {
            let before = self.routes.first { $0.name == route.name }?.shadow
            if before != nil, before != route.shadow { proxy.measurements.shadows.reset(route: route.name) }
        }
        self.routes = routes
        self.machines = next
        series = series.filter { next[$0.key] != nil }
        await publish()
    }

    /// The status `route` runs under after a (re)load: the stored (in a fleet) or running one
    /// while it still fits the config, else the rollout the config names — stored first, by
    /// compare-and-swap in a fleet (a lost race re-reads `stored` and fits that). While the
    /// fleet's configs disagree nothing is written: the stored rollout where this config can
    /// route it, else everything to this config's stable.
    private func settle(_ route: RouteDefinition, stored: inout [String: StoredRollout]) async throws
        -> RolloutStatus
    {
        for _ in 0..<5 {
            let storedRollout = stored[route.name]
            fleet?.versions[route.name] = storedRollout?.version
            if let disagreement = fleet?.disagreement(about: route) {
                logger.warning("\(disagreement)", metadata: ["route": "\(route.name)"])
                if let stored = storedRollout?.status, stored.canRoute(route) { return stored }
                return RolloutStatus(phase: .idle, stable: route.versions[route.stableIndex].name, canary: nil)
            }
            // In a fleet the stored state is the truth; alone, the running machine is.
            let previous =
                fleet == nil
                ? machines[route.name]?.status ?? storedRollout?.status
                : storedRollout?.status ?? machines[route.name]?.status
            let reconciled = RolloutStatus.reconcile(stored: previous, with: route)
            guard previous != reconciled.status else { return reconciled.status }
            let transition = RolloutTransition(
                route: route.name,
                from: previous ?? RolloutStatus(phase: .idle, stable: reconciled.status.stable, canary: nil),
                to: reconciled.status, weights: reconciled.status.weights(policy: route.policy), actor: .policy,
                reason: reconciled.reason ?? Self.describeStart(reconciled.status, route: route), kind: .reconcile)
            let event = RolloutEvent(transition, atUnixMillis: Self.nowMillis())
            let expected = fleet == nil ? nil : storedRollout?.version ?? 0
            guard let version = try await writer.persist(event, status: transition.to, expecting: expected) else {
                stored = try await writer.read { try $0.loadRollouts() }
                continue
            }
            fleet?.versions[route.name] = version
            announce(event, transition, policy: route.policy)
            return reconciled.status
        }
        throw StartupError(message: "route \(route.name) keeps changing in the fleet's store; try again")
    }

    /// Judges every route whose analysis window has ended, and feeds sequential judges every
    /// whole second since their last tick.
    public func tick() async {
        if let fleet {
            guard fleet.dataThrough != nil else { return }
            // In a fleet only the judging instance decides, on the fleet's summed counts.
            guard fleet.isJudge else { return recordSeries(now: decisionNow) }
        } else {
            await proxy.collect()
        }
        // Windows first: a step whose window failed its checks must not advance in the same tick.
        let now = decisionNow
        await judgeDueWindows(now: now)
        await observeSeconds(now: now)
        await observeShadows(now: now)
        recordSeries(now: now)
    }

    /// Judges every route standing at a shadow step on its shadow's comparisons (this instance's:
    /// copies are not summed over a fleet).
    private func observeShadows(now: UptimeClock.Instant) async {
        var changed = false
        for route in routes where route.shadow != nil && fleet?.disagreement(about: route) == nil {
            guard var machine = machines[route.name], machine.isShadowStep else { continue }
            let tally = proxy.measurements.shadows.tally(route: route.name) ?? ShadowTally()
            if let transition = machine.observeShadow(tally, at: now) {
                guard await take(transition, machine: machine, revision: revisions[route.name, default: 0]) != nil
                else { continue }
                changed = changed || transition.changesWeights(policy: route.policy)
            } else {
                machines[route.name] = machine
            }
        }
        if changed { await publish() }
    }

    /// Appends every whole second since the last tick to each route's series: per version its
    /// requests, errors, p50/p99 and weight, and the sequential judge's e-value.
    private func recordSeries(now: UptimeClock.Instant) {
        let through = now.second - 1
        let first = max(seriesThrough.map { $0 + 1 } ?? through, through - Int64(Self.seriesSeconds) + 1)
        guard first <= through else { return }
        for route in routes {
            guard let machine = machines[route.name] else { continue }
            let weights = machine.status.weights(policy: route.policy)
            var routeSeries = series[route.name] ?? RouteSeries(capacity: Self.seriesSeconds)
            for second in first...through {
                var versions: [String: RouteSeries.VersionPoint] = [:]
                for version in route.versions {
                    versions[version.name] = RouteSeries.VersionPoint(
                        stats(route: route.name, version: version.name, from: second, to: second + 1),
                        errorKinds: route.policy.errors, weight: weights[version.name] ?? 0)
                }
                routeSeries.append(
                    RouteSeries.Point(second: second + unixOffset, versions: versions, eValue: machine.judge?.eValue))
            }
            series[route.name] = routeSeries
        }
        seriesThrough = through
    }

    /// A route's series after unix second `since` (all of it with nil), with its judge's 1/α;
    /// nil for an unknown route.
    public func series(of name: String, after since: Int64?) -> (points: [RouteSeries.Point], threshold: Double?)? {
        guard let machine = machines[name] else { return nil }
        let threshold = machine.route.policy.sequential.map { 1 / $0.alpha }
        return (series[name]?.points(after: since) ?? [], threshold)
    }

    /// The instant decisions are made at: now, or in a fleet the end of the last second every
    /// live instance has reported (so a window is judged on the whole fleet's traffic).
    private var decisionNow: UptimeClock.Instant {
        let now = clock.now
        guard let through = fleet?.dataThrough else { return now }
        return min(now, UptimeClock.Instant(nanoseconds: UInt64(max(0, through + 1)) * 1_000_000_000))
    }

    /// The measurements decisions and status read: this instance's, or the fleet's sums.
    private var judged: Measurements { fleet?.measurements ?? proxy.measurements }

    /// Judges every progressing or held route whose analysis window has ended.
    private func judgeDueWindows(now: UptimeClock.Instant) async {
        // Measurements come in whole seconds: a window is judged once it spans at least one
        // complete second after its warm-up, so short intervals stretch to the next second.
        let due = routes.filter { route in
            guard let machine = machines[route.name], fleet?.disagreement(about: route) == nil else { return false }
            return machine.isWindowDue(at: now) && now.second > Self.firstSecond(of: machine)
        }
        var changed = false
        for route in due {
            guard var machine = machines[route.name] else { continue }
            let revision = revisions[route.name, default: 0]
            let from = Self.firstSecond(of: machine)
            let to = now.second
            let status = machine.status
            let canary =
                status.canary.map { stats(route: route.name, version: $0, from: from, to: to) } ?? RequestStats()
            let stable = stats(route: route.name, version: status.stable, from: from, to: to)
            let transition = machine.windowEnded(at: now, canary: canary, stable: stable)
            if let verdict = machine.lastVerdict { exporter?.verdict(route: route.name, result: verdict.name) }
            if let transition {
                // Not taken (store refused it): the window stays due and is judged again.
                guard await take(transition, machine: machine, revision: revision) != nil else { continue }
                changed = changed || transition.changesWeights(policy: route.policy)
            } else {
                if let verdict = machine.lastVerdict {
                    logger.debug(
                        "window judged",
                        metadata: ["route": "\(route.name)", "verdict": "\(verdict.name)", "reason": "\(verdict.reason)"])
                }
                machines[route.name] = machine
            }
        }
        if changed { await publish() }
    }

    /// Applies an operator's command to a route; returns the stored event, or why it was refused.
    public func handle(_ command: RolloutCommand, route name: String) async -> Result<
        RolloutEvent, RolloutRefusal
    > {
        guard var machine = machines[name] else {
            return .failure(RolloutRefusal(code: "not_found", message: "no route named \(name)"))
        }
        // While configs disagree, only the moves away from the canary are allowed: the route
        // stays where it is, but an operator can always stop a bad canary.
        if let disagreement = fleet?.disagreement(about: machine.route), !command.isSafeDuringDisagreement {
            return .failure(
                RolloutRefusal(
                    code: "config_disagreement", message: disagreement + " (rollback and pause still work)"))
        }
        let revision = revisions[name, default: 0]
        switch machine.handle(command, at: clock.now) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let transition):
            let taken: RolloutEvent?
            do {
                taken = try await apply(transition, machine: machine, revision: revision)
            } catch {
                return .failure(RolloutRefusal(code: "store_unavailable", message: error.message))
            }
            guard let event = taken else {
                return .failure(
                    RolloutRefusal(
                        code: "conflict", message: "another change to \(name) happened meanwhile; look at its status and retry"))
            }
            if transition.changesWeights(policy: machine.route.policy) { await publish() }
            return .success(event)
        }
    }

    /// Every route as operators see it, in config order, with measurements up to the last whole second.
    public func views() async -> [RouteView] {
        if fleet == nil { await proxy.collect() }
        let now = decisionNow
        return routes.compactMap { route in
            guard let machine = machines[route.name] else { return nil }
            // The window so far, in whole collected seconds.
            let from = Self.firstSecond(of: machine)
            let to = now.second
            var window: [String: RequestStats] = [:]
            var pinned: [String: RequestStats] = [:]
            for version in route.versions {
                window[version.name] = stats(route: route.name, version: version.name, from: from, to: to)
                pinned[version.name] = stats(route: route.name, version: version.name, pinned: true, from: from, to: to)
            }
            return RouteView(
                route: route, status: machine.status, split: machine.split, lastVerdict: machine.lastVerdict,
                window: window, pinned: pinned, windowSeconds: Double(max(0, to - from)), lastEvent: lastEvents[route.name],
                disagreement: fleet?.disagreement(about: route)
            )
        }
    }

    /// The current status of one route.
    public func status(of name: String) -> RolloutStatus? { machines[name]?.status }

    // MARK: Internals

    /// Feeds each sequential judge every whole second since its last tick, one at a time: a
    /// decision the store refuses is not applied, and its second is judged again next tick.
    private func observeSeconds(now: UptimeClock.Instant) async {
        var changed = false
        for route in routes where route.policy.sequential != nil && fleet?.disagreement(about: route) == nil {
            // A judge starts with the first whole second after it is first seen.
            let last = observedThrough[route.name] ?? now.second - 1
            var second = last + 1
            while second < now.second, var machine = machines[route.name], let canary = machine.status.canary {
                let slices = routedSlices(route: route.name, canary: canary, stable: machine.status.stable, second: second)
                let instant = UptimeClock.Instant(nanoseconds: UInt64(second + 1) * 1_000_000_000)
                if let transition = machine.observeSecond(slices: slices, at: instant) {
                    guard await take(transition, machine: machine, revision: revisions[route.name, default: 0]) != nil
                    else { break }
                    changed = changed || transition.changesWeights(policy: route.policy)
                } else {
                    machines[route.name] = machine
                }
                second += 1
            }
            observedThrough[route.name] = second - 1
            if second > last + 1, let snapshot = machines[route.name]?.judgeSnapshot {
                writer.saveJudge(route: route.name, snapshot: snapshot)
            }
        }
        if changed { await publish() }
    }

    /// One second of a rollout by the canary weight its requests were routed under.
    private func routedSlices(route: String, canary: String, stable: String, second: Int64)
        -> [RolloutStateMachine<UptimeClock>.RoutedSlice]
    {
        let canarySlices = judged.slices(for: SeriesKey(route: route, version: canary), second: second)
        let stableSlices = judged.slices(for: SeriesKey(route: route, version: stable), second: second)
        return Set(canarySlices.keys).union(stableSlices.keys).sorted().map { weight in
            RolloutStateMachine<UptimeClock>.RoutedSlice(
                weightPercent: Double(weight) / 100, canary: canarySlices[weight] ?? RequestStats(),
                stable: stableSlices[weight] ?? RequestStats())
        }
    }

    /// The first whole measurement second of the running window.
    static func firstSecond(of machine: RolloutStateMachine<UptimeClock>) -> Int64 {
        machine.windowBeganWithWarmup ? machine.measureFrom.secondRoundedUp : machine.measureFrom.second
    }

    private func stats(route: String, version: String, pinned: Bool = false, from: Int64, to: Int64) -> RequestStats {
        judged.stats(for: SeriesKey(route: route, version: version, pinned: pinned), from: from, to: to)
    }

    /// A policy decision through `apply`; nil (logged) when the store refused it — then nothing
    /// changed and the decision is made again on a later tick.
    private func take(_ transition: RolloutTransition, machine: RolloutStateMachine<UptimeClock>, revision: UInt64)
        async -> RolloutEvent?
    {
        do {
            return try await apply(transition, machine: machine, revision: revision)
        } catch {
            logger.warning(
                "a rollout decision waits for the store; it is made again later",
                metadata: ["route": "\(machine.route.name)", "decision": "\(transition.reason)", "error": "\(error)"])
            return nil
        }
    }

    /// Persists and applies a transition `machine` produced from the route's state at `revision`;
    /// the event, or nil when another transition was applied while this one waited for the store.
    /// Throws when the store refuses a move toward the canary; then nothing changed.
    private func apply(_ transition: RolloutTransition, machine: RolloutStateMachine<UptimeClock>, revision: UInt64)
        async throws(StoreUnavailable) -> RolloutEvent?
    {
        let route = machine.route
        let event = RolloutEvent(transition, atUnixMillis: Self.nowMillis())
        if route.shadow != nil, transition.to.phase == .progressing,
            route.policy.steps.indices.contains(transition.to.step), route.policy.steps[transition.to.step].shadow,
            transition.from.phase != .progressing || transition.from.step != transition.to.step
        {
            // A shadow step starts with no evidence: earlier comparisons were of another attempt.
            proxy.measurements.shadows.reset(route: route.name)
        }
        if fleet != nil {
            // In a fleet every move waits for the database: the change is the fleet's only once
            // it is stored, and it is stored only if nobody changed the route since it was read.
            guard try await commitToFleet(event, transition, route: route.name) else { return nil }
        } else if transition.movesTowardCanary(policy: route.policy) {
            try await writer.persist(event, status: transition.to)
            guard revisions[route.name, default: 0] == revision else {
                logger.warning(
                    "a rollout decision was overtaken while it waited for the store",
                    metadata: ["route": "\(route.name)", "decision": "\(transition.reason)"])
                return nil
            }
        } else {
            // Safety first: in force now, on disk as soon as the store allows (the event keeps
            // the time it took effect).
            writer.persistEventually(event, status: transition.to)
        }
        machines[route.name] = machine
        revisions[route.name, default: 0] += 1
        // The stored evidence is forgotten when its test is over: the rollout ended, or starts
        // afresh. In a fleet, an instance that does not judge has no evidence of its own, so
        // only those two forget it there.
        let testOver =
            transition.kind == .retry || !(transition.to.phase == .progressing || transition.to.phase == .paused)
        if route.policy.sequential != nil, testOver || (fleet == nil && machine.judgeSnapshot == nil) {
            writer.saveJudge(route: route.name, snapshot: nil)
        }
        announce(event, transition, policy: route.policy)
        return event
    }

    /// Stores a fleet move by compare-and-swap on the route's version; false (after re-reading
    /// the store) when another instance stored a change first.
    private func commitToFleet(_ event: RolloutEvent, _ transition: RolloutTransition, route: String) async throws(
        StoreUnavailable
    ) -> Bool {
        let expected = fleet?.versions[route] ?? 0
        // While it is on its way, `adopt` leaves the route alone (its own NOTIFY arrives first).
        fleet?.committing[route, default: 0] += 1
        let outcome: Result<Int64?, StoreUnavailable>
        do {
            outcome = .success(try await writer.persist(event, status: transition.to, expecting: expected))
        } catch {
            outcome = .failure(error)
        }
        fleet?.committing[route, default: 1] -= 1
        let version = try outcome.get()
        guard let version else {
            logger.notice(
                "a rollout change was not made: another instance changed the route first; applying its change",
                metadata: ["route": "\(route)", "change": "\(transition.reason)"])
            if let rollouts = try? await writer.read({ try $0.loadRollouts() }) { await adopt(rollouts) }
            return false
        }
        let newest = max(version, fleet?.versions[route] ?? 0)
        fleet?.versions[route] = newest
        return true
    }

    // MARK: Fleet

    /// Applies the changes other instances stored (fleet mode): each route whose stored version
    /// moved on and whose stored rollout fits this instance's config gets the stored state, with
    /// its judge's evidence kept when the rollout is the same one.
    public func adopt(_ rollouts: [String: StoredRollout]) async {
        guard fleet != nil else { return }
        var changedRoutes: [String] = []
        var weightsChanged = false
        for route in routes {
            // Only forward: a read that started before a newer change was applied is stale.
            guard let stored = rollouts[route.name], fleet?.committing[route.name, default: 0] == 0,
                stored.version > fleet?.versions[route.name] ?? 0
            else { continue }
            guard stored.status.canRoute(route) else {
                fleet?.unfitting[route.name] =
                    "the fleet's stored rollout (\(stored.status.summary) of \(stored.status.canary ?? stored.status.stable)) names versions or steps this instance's config for \(route.name) lacks; it keeps its weights and changes nothing until the configs agree"
                continue
            }
            fleet?.unfitting[route.name] = nil
            let previous = machines[route.name]
            var machine = RolloutStateMachine<UptimeClock>(route: route, status: stored.status, now: clock.now)
            // The evidence carries over one change (a pause, a step); across several at once it
            // might span a rollback and a retry — then the test starts afresh (always valid).
            if stored.version == (fleet?.versions[route.name] ?? 0) + 1, let snapshot = previous?.judgeSnapshot {
                machine.restoreJudge(snapshot)
            }
            machines[route.name] = machine
            revisions[route.name, default: 0] += 1
            fleet?.versions[route.name] = stored.version
            changedRoutes.append(route.name)
            weightsChanged = weightsChanged || previous?.split != machine.split
            logger.notice(
                "applied a rollout change stored by the fleet",
                metadata: ["route": "\(route.name)", "state": "\(stored.status.summary)", "version": "\(stored.version)"])
        }
        if weightsChanged { await publish() }
        for name in changedRoutes {
            if let event = try? await writer.read({ try $0.events(route: name, limit: 1).first }) {
                lastEvents[name] = event
            }
        }
    }

    /// What the fleet's directory said on this beat: the instances (nil: unknown, keep the last
    /// seen), whether this one judges, and through which local second every live instance's
    /// counts are in.
    public func updateFleet(instances: [FleetInstance]?, isJudge: Bool, dataThrough: Int64?) async {
        guard fleet != nil else { return }
        if let instances { fleet?.instances = instances }
        if let dataThrough { fleet?.dataThrough = dataThrough }
        let wasJudge = fleet?.isJudge ?? false
        if isJudge && !wasJudge {
            // Not judging until the takeover is complete: a tick meanwhile would judge with the
            // machines and seconds of before.
            let judging = await takeOverJudging()
            fleet?.isJudge = judging
        } else {
            fleet?.isJudge = isJudge
        }
        if !isJudge && wasJudge { logger.warning("this instance no longer judges the fleet's rollouts") }
    }

    /// Becoming the fleet's judge: every route restarts from the stored state, its sequential
    /// judge continuing the stored evidence, its first second the next one every instance reports.
    private func takeOverJudging() async -> Bool {
        observedThrough = [:]
        do {
            let rollouts = try await writer.read { try $0.loadRollouts() }
            let judges = try await writer.read { try $0.loadJudges() }
            await adopt(rollouts)
            let now = clock.now
            for route in routes {
                guard let status = machines[route.name]?.status else { continue }
                var machine = RolloutStateMachine<UptimeClock>(route: route, status: status, now: now)
                if let snapshot = judges[route.name] ?? machines[route.name]?.judgeSnapshot {
                    machine.restoreJudge(snapshot)
                }
                machines[route.name] = machine
            }
            logger.notice(
                "this instance judges the fleet's rollouts now",
                metadata: [
                    "routes": "\(routes.count)",
                    "judges_restored": "\(routes.filter { machines[$0.name]?.judge != nil }.count)",
                ])
            return true
        } catch {
            logger.error("cannot take over judging (the store is failing); trying again", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Each route's rollout fingerprint, which the fleet's instances compare.
    public func fingerprints() -> [String: String] { RouteDefinition.rolloutFingerprints(of: routes) }

    /// Fleet mode: this instance's name, whether it judges, and the instances the last beat saw;
    /// nil alone.
    public var fleetMembership: (instance: String, judging: Bool, instances: [FleetInstance])? {
        fleet.map { ($0.instance, $0.isJudge, $0.instances) }
    }

    /// Logs an applied transition, notifies webhooks and counts it.
    private func announce(_ event: RolloutEvent, _ transition: RolloutTransition, policy: RolloutPolicy) {
        lastEvents[transition.route] = event
        logger.notice(
            "rollout \(transition.from.summary) -> \(transition.to.summary): \(transition.reason)",
            metadata: [
                "route": "\(transition.route)", "actor": "\(transition.actor.rawValue)",
                "weights":
                    "\(transition.weights.sorted { $0.key < $1.key }.map { "\($0.key)=\(Format.weight($0.value))" }.joined(separator: ","))",
            ]
        )
        webhooks.notify(event, policy: policy)
        exporter?.transition(event)
    }

    private static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// For a stored promotion, the instant it happened, from its event's wall-clock time.
    private func promotionInstant(of route: String, status: RolloutStatus, now: UptimeClock.Instant) async throws
        -> UptimeClock.Instant?
    {
        guard status.phase == .promoted,
            let event = try await writer.read({ try $0.events(route: route, limit: 20) }).first(where: {
                $0.to == .promoted && $0.kind == .promote
            })
        else { return nil }
        let ageMillis = max(0, Self.nowMillis() - event.at)
        return now.advanced(by: .milliseconds(-ageMillis))
    }

    private func publish() async {
        generation += 1
        let splits = routes.map { machines[$0.name]?.split ?? RoutingTable(initialFor: [$0]).splits[0] }
        await proxy.publish(RoutingTable(routes: routes, splits: splits, generation: generation))
    }

    private static func describeStart(_ status: RolloutStatus, route: RouteDefinition) -> String {
        guard let canary = status.canary, status.phase == .progressing else {
            return "route configured: all traffic to \(status.stable)"
        }
        return
            "rollout of \(canary) started at step 0 (\(route.policy.steps.first?.shadow == true ? "shadow: copies only" : Format.weight(status.canaryPercent(policy: route.policy)) + "%")) against \(status.stable)"
    }
}
