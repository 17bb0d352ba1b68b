/// The durable state of one route's rollout: what the store keeps and what a restart resumes.
/// Weights are derived from it (`canaryPercent(policy:)`), never stored beside it.
public struct RolloutStatus: Sendable, Hashable, Codable {
    public var phase: RolloutPhase
    /// Index into the policy's steps; meaningful while progressing or paused.
    public var step: Int
    /// The version that takes the traffic the canary does not (after a promotion: the canary).
    public var stable: String
    /// The version this rollout is about; kept after promotion or rollback so a restart with the
    /// same config knows the rollout already ended.
    public var canary: String?
    /// The stable version before a promotion, for `undo`.
    public var previousStable: String?
    /// A weight an operator pinned with `set-weight` (percent); overrides the step's weight.
    public var pinnedPercent: Double?
    public var consecutiveFailures: Int

    public init(
        phase: RolloutPhase,
        step: Int = 0,
        stable: String,
        canary: String?,
        previousStable: String? = nil,
        pinnedPercent: Double? = nil,
        consecutiveFailures: Int = 0
    ) {
        self.phase = phase
        self.step = step
        self.stable = stable
        self.canary = canary
        self.previousStable = previousStable
        self.pinnedPercent = pinnedPercent
        self.consecutiveFailures = consecutiveFailures
    }

    /// The state a route starts in when its config is first seen: its canary at step 0, or idle.
    public static func initial(for route: RouteDefinition) -> RolloutStatus {
        let stable = route.versions[route.stableIndex].name
        guard let canaryIndex = route.canaryIndex else {
            return RolloutStatus(phase: .idle, stable: stable, canary: nil)
        }
        return RolloutStatus(phase: .progressing, step: 0, stable: stable, canary: route.versions[canaryIndex].name)
    }

    /// The canary's share of traffic in percent.
    public func canaryPercent(policy: RolloutPolicy) -> Double {
        switch phase {
        case .idle, .rolledBack, .promoted:
            return 0
        case .progressing, .paused:
            if let pinnedPercent { return pinnedPercent }
            return policy.steps[min(step, policy.steps.count - 1)].weight
        }
    }

    /// Weights by version name, as operators see them (`{"v1": 90, "v2": 10}`).
    public func weights(policy: RolloutPolicy) -> [String: Double] {
        let canaryShare = canaryPercent(policy: policy)
        var weights = [stable: 100 - canaryShare]
        if let canary, canary != stable { weights[canary] = canaryShare }
        return weights
    }

    /// The traffic split this state means for a route's version indices.
    public func split(for route: RouteDefinition) -> TrafficSplit {
        let stableIndex = route.versionIndex(named: stable) ?? route.stableIndex
        let canaryIndex = canary.flatMap { route.versionIndex(named: $0) }
        guard let canaryIndex, canaryIndex != stableIndex else { return .allTo(stableIndex) }
        return TrafficSplit(
            stableIndex: stableIndex, canaryIndex: canaryIndex, canaryPercent: canaryPercent(policy: route.policy))
    }

    /// Short text for events and tables: `progressing (step 2)`; steps count from 0 as in reasons.
    public var summary: String {
        switch phase {
        case .progressing, .paused: "\(phase.rawValue) (step \(step))"
        default: phase.rawValue
        }
    }

    /// Keeps a stored status when the config still describes the same rollout; otherwise starts
    /// the rollout the config now names. A status whose versions left the config is replaced.
    public static func reconcile(stored: RolloutStatus?, with route: RouteDefinition) -> (
        status: RolloutStatus, reason: String?
    ) {
        let fresh = initial(for: route)
        guard let stored else { return (fresh, nil) }
        let known = Set(route.versions.map(\.name))
        guard known.contains(stored.stable), stored.canary.map(known.contains) ?? true else {
            return (fresh, "stored rollout names versions no longer in the config; starting over")
        }
        if stored.canary == fresh.canary {
            var kept = stored
            kept.step = min(kept.step, route.policy.steps.count - 1)
            return (kept, nil)
        }
        if let newCanary = fresh.canary {
            // A different canary: a new rollout, against the version serving now.
            let stable = stored.phase == .promoted ? stored.stable : fresh.stable
            if stable == newCanary {
                return (
                    RolloutStatus(phase: .idle, stable: stable, canary: nil),
                    "config names \(newCanary) as canary, which already serves as stable"
                )
            }
            return (
                RolloutStatus(phase: .progressing, step: 0, stable: stable, canary: newCanary),
                "config names a new canary \(newCanary)"
            )
        }
        return (fresh, stored.canary == nil ? nil : "config no longer names a canary")
    }
}
