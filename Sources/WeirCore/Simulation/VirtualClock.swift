/// A clock whose time is whatever its user says: instants are offsets from a zero point. The
/// state machine runs on it in tests and in `weir simulate`, where hours pass in milliseconds.
public struct VirtualClock: Clock {
    /// A point on the virtual timeline.
    public struct Instant: InstantProtocol, Sendable, Hashable {
        public var offset: Duration
        public init(offset: Duration) { self.offset = offset }
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }

        /// Whole seconds since zero (rounded down), the measurement windows' unit.
        public var second: Int64 { offset.components.seconds - (offset.components.attoseconds < 0 ? 1 : 0) }
    }

    public init() {}

    /// Always zero: a virtual clock does not move on its own.
    public var now: Instant { Instant(offset: .zero) }
    public var minimumResolution: Duration { .nanoseconds(1) }
    /// Returns at once: nothing waits on virtual time.
    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {}
}
