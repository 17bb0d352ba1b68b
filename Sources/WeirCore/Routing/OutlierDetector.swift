/// Passive outlier ejection for one upstream: after `consecutiveFailures` failed requests in a
/// row it is ejected for a while, longer each time it is ejected again, and let back in after.
/// A pure value: the data plane keeps one per upstream per event loop and passes the time in.
public struct OutlierDetector: Sendable, Hashable {
    /// When to eject and for how long.
    public struct Settings: Sendable, Hashable {
        public var consecutiveFailures: Int
        public var baseEjection: Duration
        public var maxEjection: Duration

        public init(
            consecutiveFailures: Int = 5, baseEjection: Duration = .seconds(10), maxEjection: Duration = .seconds(300)
        ) {
            self.consecutiveFailures = consecutiveFailures
            self.baseEjection = baseEjection
            self.maxEjection = maxEjection
        }
    }

    public let settings: Settings
    public private(set) var failuresInARow = 0
    /// Ejections so far without a success in between (drives the back-off).
    public private(set) var ejections = 0
    /// Nanoseconds (on the caller's monotonic clock) until which the upstream is ejected.
    public private(set) var ejectedUntil: UInt64 = 0

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    public func isEjected(at now: UInt64) -> Bool { now < ejectedUntil }

    /// Records one request's result; returns true when this failure ejected the upstream.
    @discardableResult
    public mutating func record(success: Bool, at now: UInt64) -> Bool {
        if success {
            failuresInARow = 0
            ejections = 0
            return false
        }
        failuresInARow += 1
        guard failuresInARow >= settings.consecutiveFailures, !isEjected(at: now) else { return false }
        ejections += 1
        failuresInARow = 0
        var ejection = settings.baseEjection
        for _ in 1..<ejections where ejection < settings.maxEjection { ejection *= 2 }
        ejection = min(ejection, settings.maxEjection)
        ejectedUntil =
            now + UInt64(ejection.components.seconds) * 1_000_000_000
            + UInt64(ejection.components.attoseconds / 1_000_000_000)
        return true
    }
}
