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

    /// Whether the canary's weight differs before and after.
    public func changesWeights(policy: RolloutPolicy) -> Bool {
        from.weights(policy: policy) != to.weights(policy: policy)
    }
}
