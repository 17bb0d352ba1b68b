/// A transition as the audit log keeps it: when, which route, from and to which state, the
/// weights after it, who did it and why.
public struct RolloutEvent: Sendable, Hashable, Codable {
    /// Milliseconds since the Unix epoch (wall-clock time, for people).
    public var at: Int64
    public var route: String
    public var from: RolloutPhase
    public var to: RolloutPhase
    public var fromStep: Int
    public var toStep: Int
    public var weights: [String: Double]
    public var actor: RolloutActor
    public var reason: String
    public var kind: RolloutTransition.Kind

    public init(
        at: Int64, route: String, from: RolloutPhase, to: RolloutPhase, fromStep: Int, toStep: Int,
        weights: [String: Double], actor: RolloutActor, reason: String, kind: RolloutTransition.Kind
    ) {
        self.at = at
        self.route = route
        self.from = from
        self.to = to
        self.fromStep = fromStep
        self.toStep = toStep
        self.weights = weights
        self.actor = actor
        self.reason = reason
        self.kind = kind
    }

    public init(_ transition: RolloutTransition, atUnixMillis: Int64) {
        self.init(
            at: atUnixMillis, route: transition.route, from: transition.from.phase, to: transition.to.phase,
            fromStep: transition.from.step, toStep: transition.to.step, weights: transition.weights,
            actor: transition.actor, reason: transition.reason, kind: transition.kind
        )
    }
}
