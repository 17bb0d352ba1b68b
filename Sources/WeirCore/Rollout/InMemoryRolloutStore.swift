import Synchronization

/// A `RolloutStore` in memory: for tests, simulations and until a durable store is configured.
public final class InMemoryRolloutStore: RolloutStore {
    private struct Contents {
        var rollouts: [String: StoredRollout] = [:]
        var log: [RolloutEvent] = []
        var judges: [String: SequentialJudge.Snapshot] = [:]
    }

    private let contents = Mutex(Contents())

    public init() {}

    public func loadRollouts() -> [String: StoredRollout] { contents.withLock { $0.rollouts } }

    public func commit(_ event: RolloutEvent, status: RolloutStatus, expecting expected: Int64?) throws -> Int64 {
        try contents.withLock { contents in
            let found = contents.rollouts[event.route]?.version
            if let expected, expected != (found ?? 0) {
                throw RolloutConflict(route: event.route, expected: expected, found: found)
            }
            let version = (found ?? 0) + 1
            contents.log.append(event)
            contents.rollouts[event.route] = StoredRollout(status: status, version: version)
            return version
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
