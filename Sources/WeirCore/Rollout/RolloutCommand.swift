/// An operator's instruction to a route's rollout; fed to the same state machine as the policy's
/// own decisions, so every path is tested without sockets.
public enum RolloutCommand: Sendable, Hashable {
    /// The next step, or straight to 100 % (promotion) with `full`.
    case promote(full: Bool)
    case pause
    case resume
    /// Start a rolled-back canary again from step 0.
    case retry
    case rollback(reason: String?)
    /// Pin the canary's weight (percent) and pause the policy.
    case setWeight(Double)
    /// After a promotion, within the rollback window: all traffic back to the previous stable.
    case undo

    public var name: String {
        switch self {
        case .promote: "promote"
        case .pause: "pause"
        case .resume: "resume"
        case .retry: "retry"
        case .rollback: "rollback"
        case .setWeight: "set-weight"
        case .undo: "undo"
        }
    }
}

/// Why a command was refused, said so an operator knows what to do instead.
public struct RolloutRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable code for scripts (`no_canary`, `already_paused`, …).
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
