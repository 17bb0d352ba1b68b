/// A route's shadow (`route.shadow`): which version sees copies of its requests, how many, and how
/// its answers are compared with the stable's. The client always gets the stable's answer.
public struct ShadowSettings: Sendable, Hashable {
    /// The version (by index into the route's versions) that gets the copies.
    public var versionIndex: Int
    /// Share of requests copied, 0–100.
    public var percent: Double = 100
    /// Requests (and answers) with a larger body are not mirrored (counted as shed).
    public var maxBody: Int = 1 << 20
    /// Mirrored exchanges in flight at once per event loop; more are shed.
    public var maxInFlight: Int = 64
    /// 2: each copy also goes to the stable a second time, whose disagreement with the first is
    /// the noise floor; 1: the shadow only.
    public var noise: Int = 2
    public var compare: OutputComparator
    /// JSON keys (lower-cased; matched in any case) whose values are never stored or shown
    /// (`weirctl diff`, details, the flip matrix), at any depth.
    public var redact: Set<String> = []

    /// Whether the comparison's path goes through a redacted key: then what it reads is never shown.
    public var pathIsRedacted: Bool {
        compare.path?.steps.contains { if case .key(let key) = $0 { redact.contains(key.lowercased()) } else { false } }
            ?? false
    }

    public init(versionIndex: Int, compare: OutputComparator) {
        self.versionIndex = versionIndex
        self.compare = compare
    }
}
