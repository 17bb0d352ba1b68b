/// Where a route's rollout stands (CONTRACT §4).
public enum RolloutPhase: String, Sendable, Hashable, CaseIterable, Codable {
    /// No canary: all traffic on the stable version.
    case idle
    /// The canary is at step `step` and the policy moves it.
    case progressing
    /// The canary holds its weight until an operator resumes or promotes.
    case paused
    /// The canary took 100 % and is now the stable version.
    case promoted
    /// The canary was sent back to 0 %.
    case rolledBack = "rolled_back"
}
