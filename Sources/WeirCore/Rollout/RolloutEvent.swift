import Synchronization

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

/// Where rollout state and the audit log live. The controller never calls it itself: a
/// `RolloutStoreWriter` does, on its own queue, so a slow or locked store never stalls status
/// reads or a rollback.
public protocol RolloutStore: Sendable {
    /// The last committed state of every route that has one.
    func loadStatuses() throws -> [String: RolloutStatus]
    /// Appends the event and replaces the route's state, atomically.
    func commit(_ event: RolloutEvent, status: RolloutStatus) throws
    /// A route's events, newest first.
    func events(route: String, limit: Int) throws -> [RolloutEvent]
    /// Proves the store would accept a write now (takes and releases the write lock); throws why not.
    func probe() throws
    /// Keeps a route's sequential-judge state (nil forgets it: the rollout it judged is over).
    func saveJudge(route: String, snapshot: SequentialJudge.Snapshot?) throws
    /// Every stored sequential-judge state by route.
    func loadJudges() throws -> [String: SequentialJudge.Snapshot]
}

/// A `RolloutStore` in memory: for tests, simulations and until a durable store is configured.
public final class InMemoryRolloutStore: RolloutStore {
    private struct Contents {
        var statuses: [String: RolloutStatus] = [:]
        var log: [RolloutEvent] = []
        var judges: [String: SequentialJudge.Snapshot] = [:]
    }

    private let contents = Mutex(Contents())

    public init() {}

    public func loadStatuses() -> [String: RolloutStatus] { contents.withLock { $0.statuses } }

    public func commit(_ event: RolloutEvent, status: RolloutStatus) {
        contents.withLock { contents in
            contents.log.append(event)
            contents.statuses[event.route] = status
        }
    }

    public func events(route: String, limit: Int) -> [RolloutEvent] {
        contents.withLock { Array($0.log.lazy.filter { $0.route == route }.reversed().prefix(limit)) }
    }

    public func probe() {}

    public func saveJudge(route: String, snapshot: SequentialJudge.Snapshot?) {
        contents.withLock { $0.judges[route] = snapshot }
    }

    public func loadJudges() -> [String: SequentialJudge.Snapshot] { contents.withLock { $0.judges } }
}

/// The store cannot take a write now; says why. Moves toward the canary are refused with it
/// (the admin API answers `503` with the message), safe moves are queued instead.
public struct StoreUnavailable: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
