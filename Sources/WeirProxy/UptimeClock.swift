import NIOCore

/// The monotonic clock the data plane stamps measurements with (NIO's uptime), as a Swift `Clock`,
/// so the rollout controller's instants map exactly onto the measurement seconds.
public struct UptimeClock: Clock {
    /// Nanoseconds of uptime.
    public struct Instant: InstantProtocol, Sendable, Hashable {
        public var nanoseconds: UInt64
        public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
        public func advanced(by duration: Duration) -> Instant {
            let delta = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
            return Instant(nanoseconds: UInt64(max(0, Int64(nanoseconds) + delta)))
        }
        public func duration(to other: Instant) -> Duration {
            .nanoseconds(Int64(other.nanoseconds) - Int64(nanoseconds))
        }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

        /// The measurement second this instant falls in.
        public var second: Int64 { Int64(nanoseconds / 1_000_000_000) }
        /// The first measurement second that starts at or after this instant.
        public var secondRoundedUp: Int64 { Int64((nanoseconds + 999_999_999) / 1_000_000_000) }
    }

    public init() {}

    public var now: Instant { Instant(nanoseconds: NIODeadline.now().uptimeNanoseconds) }
    public var minimumResolution: Duration { .nanoseconds(1) }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let remaining = now.duration(to: deadline)
        if remaining > .zero { try await Task.sleep(for: remaining) }
    }
}
