import Foundation

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

extension RolloutEvent {
    /// The weights as both stores keep them: sorted JSON text.
    public var weightsText: String {
        let data = (try? JSONSerialization.data(withJSONObject: weights, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// An event read back from a store's text columns; a name this build does not know reads as
    /// the most neutral one rather than losing the event.
    public init(
        storedAt at: Int64, route: String, from: String, to: String, fromStep: Int, toStep: Int, weightsText: String,
        actor: String, reason: String, kind: String
    ) {
        self.init(
            at: at, route: route, from: RolloutPhase(rawValue: from) ?? .idle, to: RolloutPhase(rawValue: to) ?? .idle,
            fromStep: fromStep, toStep: toStep,
            weights: (try? JSONSerialization.jsonObject(with: Data(weightsText.utf8))) as? [String: Double] ?? [:],
            actor: RolloutActor(rawValue: actor) ?? .policy, reason: reason,
            kind: RolloutTransition.Kind(rawValue: kind) ?? .reconcile)
    }
}
