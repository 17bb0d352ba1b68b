import Foundation
import Logging
import WeirCore
import WeirProxy

/// Drives every route's `RolloutStateMachine` from the live measurements and from operators'
/// commands. For each transition it commits the event and the new state to the store first, then
/// publishes the new weights to the data plane, then notifies webhooks.
public actor RolloutController {
    /// What an operator sees of one route.
    public struct RouteView: Sendable {
        public var route: RouteDefinition
        public var status: RolloutStatus
        public var split: TrafficSplit
        public var lastVerdict: Verdict?
        /// The current window's statistics per version name.
        public var window: [String: RequestStats]
        /// How many seconds the window covers so far.
        public var windowSeconds: Double
        public var lastEvent: RolloutEvent?
    }

    private var routes: [RouteDefinition] = []
    private var machines: [String: RolloutStateMachine<UptimeClock>] = [:]
    private var generation: UInt64 = 1
    private var lastEvents: [String: RolloutEvent] = [:]
    /// The last measurement second fed to each route's sequential judge.
    private var observedThrough: [String: Int64] = [:]
    private let proxy: ProxyServer
    private let store: any RolloutStore
    private let webhooks: WebhookNotifier
    private let logger: Logger
    private let clock = UptimeClock()

    private let exporter: PrometheusExporter?

    public init(
        proxy: ProxyServer, store: any RolloutStore, webhooks: WebhookNotifier, logger: Logger,
        exporter: PrometheusExporter? = nil
    ) {
        self.exporter = exporter
        self.proxy = proxy
        self.store = store
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
        let stored = try store.loadStatuses()
        let now = clock.now
        var next: [String: RolloutStateMachine<UptimeClock>] = [:]
        for route in routes {
            if let running = machines[route.name], running.route == route {
                next[route.name] = running
                continue
            }
            let previous = machines[route.name]?.status ?? stored[route.name]
            let (status, reason) = RolloutStatus.reconcile(stored: previous, with: route)
            if previous != status || previous == nil {
                let from = previous ?? RolloutStatus(phase: .idle, stable: status.stable, canary: nil)
                let text = reason ?? Self.describeStart(status, route: route)
                let transition = RolloutTransition(
                    route: route.name, from: from, to: status, weights: status.weights(policy: route.policy),
                    actor: .policy, reason: text, kind: .reconcile
                )
                try record(transition, policy: route.policy)
            }
            if lastEvents[route.name] == nil {
                lastEvents[route.name] = try store.events(route: route.name, limit: 1).first
            }
            next[route.name] = RolloutStateMachine(
                route: route, status: status, now: now,
                promotedAt: try promotionInstant(of: route.name, status: status, now: now))
        }
        self.routes = routes
        self.machines = next
        await publish()
    }

    /// Judges every route whose analysis window has ended, and feeds sequential judges every
    /// whole second since their last tick.
    public func tick() async {
        await observeSeconds()
        let now = clock.now
        // Measurements come in whole seconds: a window is judged once it spans at least one
        // complete second after its warm-up, so short intervals stretch to the next second.
        let due = routes.filter { route in
            guard let machine = machines[route.name] else { return false }
            return machine.isWindowDue(at: now) && now.second > Self.firstSecond(of: machine)
        }
        guard !due.isEmpty else { return }
        await proxy.collect()
        var changed = false
        for route in due {
            guard var machine = machines[route.name] else { continue }
            let from = Self.firstSecond(of: machine)
            let to = now.second
            let status = machine.status
            let canary =
                status.canary.map { stats(route: route.name, version: $0, from: from, to: to) } ?? RequestStats()
            let stable = stats(route: route.name, version: status.stable, from: from, to: to)
            let transition = machine.windowEnded(at: now, canary: canary, stable: stable)
            if let verdict = machine.lastVerdict { exporter?.verdict(route: route.name, result: verdict.name) }
            if let transition {
                guard commit(transition, route: route) else { continue }
                changed = changed || transition.changesWeights(policy: route.policy)
            } else if let verdict = machine.lastVerdict {
                logger.debug(
                    "window judged",
                    metadata: ["route": "\(route.name)", "verdict": "\(verdict.name)", "reason": "\(verdict.reason)"])
            }
            machines[route.name] = machine
        }
        if changed { await publish() }
    }

    /// Applies an operator's command to a route; returns the stored event, or why it was refused.
    public func handle(_ command: RolloutCommand, route name: String) async throws -> Result<
        RolloutEvent, RolloutRefusal
    > {
        guard var machine = machines[name] else {
            return .failure(RolloutRefusal(code: "not_found", message: "no route named \(name)"))
        }
        switch machine.handle(command, at: clock.now) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let transition):
            let event = try record(transition, policy: machine.route.policy)
            machines[name] = machine
            if transition.changesWeights(policy: machine.route.policy) { await publish() }
            return .success(event)
        }
    }

    /// Every route as operators see it, in config order, with measurements up to the last whole second.
    public func views() async -> [RouteView] {
        let now = clock.now
        await proxy.collect()
        return routes.compactMap { route in
            guard let machine = machines[route.name] else { return nil }
            // The window so far, in whole collected seconds.
            let from = Self.firstSecond(of: machine)
            let to = now.second
            var window: [String: RequestStats] = [:]
            for version in route.versions {
                window[version.name] = stats(route: route.name, version: version.name, from: from, to: to)
            }
            return RouteView(
                route: route, status: machine.status, split: machine.split, lastVerdict: machine.lastVerdict,
                window: window, windowSeconds: Double(max(0, to - from)), lastEvent: lastEvents[route.name]
            )
        }
    }

    /// The current status of one route.
    public func status(of name: String) -> RolloutStatus? { machines[name]?.status }

    // MARK: Internals

    private func observeSeconds() async {
        let sequentialRoutes = routes.filter { $0.policy.sequential != nil }
        guard !sequentialRoutes.isEmpty else { return }
        let now = clock.now
        await proxy.collect()
        var changed = false
        for route in sequentialRoutes {
            guard var machine = machines[route.name], let canaryName = machine.status.canary else { continue }
            // A judge starts with the first whole second after it is first seen.
            let last = observedThrough[route.name] ?? now.second - 1
            observedThrough[route.name] = last
            var second = last + 1
            while second < now.second {
                let canary = stats(route: route.name, version: canaryName, from: second, to: second + 1)
                let stable = stats(route: route.name, version: machine.status.stable, from: second, to: second + 1)
                let instant = UptimeClock.Instant(nanoseconds: UInt64(second + 1) * 1_000_000_000)
                var next = machine
                if let transition = next.observeSecond(canary: canary, stable: stable, at: instant) {
                    // Not stored, so not applied: the same second is judged again next tick.
                    guard commit(transition, route: route) else { break }
                    changed = changed || transition.changesWeights(policy: route.policy)
                }
                machine = next
                observedThrough[route.name] = second
                second += 1
            }
            machines[route.name] = machine
        }
        if changed { await publish() }
    }

    /// The first whole measurement second of the running window.
    static func firstSecond(of machine: RolloutStateMachine<UptimeClock>) -> Int64 {
        machine.windowBeganWithWarmup ? machine.measureFrom.secondRoundedUp : machine.measureFrom.second
    }

    private func stats(route: String, version: String, from: Int64, to: Int64) -> RequestStats {
        proxy.measurements.stats(for: SeriesKey(route: route, version: version), from: from, to: to)
    }

    /// Commits the transition, logs it and notifies webhooks. Throws when the store refuses, in
    /// which case nothing else happens.
    @discardableResult
    private func record(_ transition: RolloutTransition, policy: RolloutPolicy) throws -> RolloutEvent {
        let event = RolloutEvent(transition, atUnixMillis: Int64(Date().timeIntervalSince1970 * 1000))
        try store.commit(event, status: transition.to)
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
        return event
    }

    /// Records a policy decision; false (and logged) when the store refused it, in which case the
    /// caller must not apply it.
    private func commit(_ transition: RolloutTransition, route: RouteDefinition) -> Bool {
        do {
            try record(transition, policy: route.policy)
            return true
        } catch {
            logger.error(
                "cannot store a rollout decision; it will be retried",
                metadata: ["route": "\(route.name)", "error": "\(error)"])
            return false
        }
    }

    /// For a stored promotion, the instant it happened, from its event's wall-clock time.
    private func promotionInstant(of route: String, status: RolloutStatus, now: UptimeClock.Instant) throws
        -> UptimeClock.Instant?
    {
        guard status.phase == .promoted,
            let event = try store.events(route: route, limit: 20).first(where: {
                $0.to == .promoted && $0.kind == .promote
            })
        else { return nil }
        let ageMillis = max(0, Int64(Date().timeIntervalSince1970 * 1000) - event.at)
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
            "rollout of \(canary) started at step 0 (\(Format.weight(status.canaryPercent(policy: route.policy)))%) against \(status.stable)"
    }
}
