/// Where rollout state and the audit log live: SQLite for one instance, PostgreSQL for a fleet.
/// The controller never calls it on its own actor: a `RolloutStoreWriter` does, on its own
/// queues, so a slow or locked store never stalls status reads or a rollback.
public protocol RolloutStore: Sendable {
    /// The last committed state of every route that has one, with its version.
    func loadRollouts() throws -> [String: StoredRollout]
    /// Appends the event and replaces the route's state, atomically, provided the route's stored
    /// version is still `expected` (0: the route has none yet; nil: whatever it is); returns the new version. Throws
    /// `RolloutConflict` when another change was stored first — then nothing was written.
    func commit(_ event: RolloutEvent, status: RolloutStatus, expecting expected: Int64?) throws -> Int64
    /// A route's events, newest first.
    func events(route: String, limit: Int) throws -> [RolloutEvent]
    /// Proves the store would accept a write now; throws why not.
    func probe() throws
    /// Keeps a route's sequential-judge state (nil forgets it: the rollout it judged is over).
    func saveJudge(route: String, snapshot: SequentialJudge.Snapshot?) throws
    /// Every stored sequential-judge state by route.
    func loadJudges() throws -> [String: SequentialJudge.Snapshot]
}

extension RolloutStore {
    /// The last committed state of every route that has one.
    public func loadStatuses() throws -> [String: RolloutStatus] {
        try loadRollouts().mapValues(\.status)
    }

    /// Commits whatever the stored version is (one instance: its writer orders every change).
    public func commit(_ event: RolloutEvent, status: RolloutStatus) throws {
        _ = try commit(event, status: status, expecting: nil)
    }
}

/// A route's stored rollout state and its version, which every committed change increments: a
/// change made from version n is stored only while the version is still n (compare-and-swap), so
/// in a fleet two instances never both apply changes made from the same state.
public struct StoredRollout: Sendable, Hashable {
    public var status: RolloutStatus
    public var version: Int64
    public init(status: RolloutStatus, version: Int64) {
        self.status = status
        self.version = version
    }
}

/// Another change to the route was stored first: the caller re-reads the state and decides again.
public struct RolloutConflict: Error, Sendable, CustomStringConvertible {
    public var route: String
    public var expected: Int64?
    public var found: Int64?
    public init(route: String, expected: Int64?, found: Int64?) {
        self.route = route
        self.expected = expected
        self.found = found
    }
    public var description: String {
        "another change to \(route) was stored first (expected version \(expected.map(String.init) ?? "none"), found \(found.map(String.init) ?? "none"))"
    }
}

/// The store cannot take a write now; says why. Moves toward the canary are refused with it
/// (the admin API answers `503` with the message), safe moves are queued instead.
public struct StoreUnavailable: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A store failure after which a write's outcome is unknown: the store stopped answering after the
/// write was sent, so it may have been stored. Callers say so instead of "nothing was changed".
public protocol StoreOutcomeUnknown: Error {}
