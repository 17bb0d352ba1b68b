/// Who caused a transition.
public enum RolloutActor: String, Sendable, Hashable, Codable {
    case policy
    case admin
}

/// One change of a route's rollout, automatic or manual: the audit record (CONTRACT §4). The
/// controller writes it to the store before the new weights take effect.
public struct RolloutTransition: Sendable, Hashable {
    public var route: String
    public var from: RolloutStatus
    public var to: RolloutStatus
    /// Weights after the transition, by version name.
    public var weights: [String: Double]
    public var actor: RolloutActor
    public var reason: String
    /// What kind of change it was, for webhooks and metrics.
    public var kind: Kind

    /// The kinds of transition webhooks subscribe to, plus the rest.
    public enum Kind: String, Sendable, Hashable, Codable {
        case step
        case pause
        case resume
        case promote
        case rollback
        case retry
        case weight
        case failedWindow = "failed_window"
        /// A window passed after failed ones: the count of failures in a row starts again.
        case recovered
        /// A held canary failed its judge; `on_hold: alert` kept its weight.
        case alert
        case reconcile
    }

    public init(
        route: String, from: RolloutStatus, to: RolloutStatus, weights: [String: Double], actor: RolloutActor,
        reason: String, kind: Kind
    ) {
        self.route = route
        self.from = from
        self.to = to
        self.weights = weights
        self.actor = actor
        self.reason = reason
        self.kind = kind
    }

    /// Whether the transition moves traffic or control toward the canary: its weight goes up, it
    /// is promoted, or the policy takes over again (resume, retry). Only such moves wait for a
    /// durable commit; every other (rollback, pause, a failed window, weight down) takes effect at
    /// once and is persisted when the store allows — when the store fails, safety comes first.
    public func movesTowardCanary(policy: RolloutPolicy) -> Bool {
        if to.canaryPercent(policy: policy) > from.canaryPercent(policy: policy) { return true }
        if to.phase == .promoted && from.phase != .promoted { return true }
        return to.phase == .progressing && from.phase != .progressing
    }

    /// Whether the canary's weight differs before and after.
    public func changesWeights(policy: RolloutPolicy) -> Bool {
        from.weights(policy: policy) != to.weights(policy: policy)
    }
}
