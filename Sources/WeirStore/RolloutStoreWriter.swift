import Dispatch
import Foundation
import Synchronization
import WeirCore

/// Writes rollout events to the store on a queue of its own, in order, so that a slow, locked or
/// full store never stalls the controller, status reads or a rollback (CONTRACT §8 "Store
/// trouble"). Safe moves (rollback, pause, …) are handed over with `persistEventually` and
/// retried with back-off until the store takes them; moves toward the canary use `persist`, which
/// answers once the event is durable or says why it is not — and refuses while earlier events
/// still wait, so the log on disk never skips one.
///
/// While a safe move waits, it is also kept in a small journal file beside the store (written and
/// fsynced before the store is tried), so a restart or a `kill -9` during store trouble does not
/// bring a rolled-back canary back: `replayJournal` commits it at the next start.
public final class RolloutStoreWriter: Sendable {
    /// The store's health as operators see it.
    public struct Health: Sendable, Hashable {
        public var up: Bool
        /// The last failure's text while down.
        public var error: String?
        /// Events applied in memory and not yet on disk.
        public var pendingEvents: Int
        /// Since when the store has been failing (Unix milliseconds).
        public var downSinceUnixMillis: Int64?
    }

    private struct Pending: Sendable, Codable {
        var event: RolloutEvent
        var status: RolloutStatus
    }

    private struct State: Sendable {
        var pending: [Pending] = []
        var up = true
        var error: String?
        var downSince: Int64?
        /// The newest judge state per route not yet written (nil = forget); only the latest matters.
        var judges: [String: SequentialJudge.Snapshot?] = [:]
        var retryScheduled = false
        /// How many waiting events the journal file holds now.
        var journaled = 0
        var backoffMillis = 100
        /// A probe is queued or running.
        var probing = false
    }

    private let store: any RolloutStore
    private let journalPath: String?
    private let queue = DispatchQueue(label: "weir.store-writer")
    private let readQueue = DispatchQueue(label: "weir.store-reader", attributes: .concurrent)
    private let state = Mutex(State())
    /// Called on the writer's queue when the store goes down or comes back.
    private let onHealthChange: @Sendable (Health) -> Void

    /// - Parameter journalPath: where waiting safe moves are kept across a restart (nil: memory only).
    public init(
        store: any RolloutStore, journalPath: String? = nil,
        onHealthChange: @escaping @Sendable (Health) -> Void = { _ in }
    ) {
        self.store = store
        self.journalPath = journalPath
        self.onHealthChange = onHealthChange
    }

    public var health: Health {
        state.withLock {
            Health(up: $0.up, error: $0.error, pendingEvents: $0.pending.count, downSinceUnixMillis: $0.downSince)
        }
    }

    /// Events still waiting for the store, newest first, for one route.
    public func pendingEvents(route: String) -> [RolloutEvent] {
        state.withLock { $0.pending.lazy.map(\.event).filter { $0.route == route }.reversed() }
    }

    /// Queues a safe move: written as soon as the store allows, retried until then.
    public func persistEventually(_ event: RolloutEvent, status: RolloutStatus) {
        state.withLock { $0.pending.append(Pending(event: event, status: status)) }
        queue.async { self.drain() }
    }

    /// Keeps the latest sequential-judge state of a route (nil forgets it), written after every
    /// event handed over before it; a newer state replaces one still waiting.
    public func saveJudge(route: String, snapshot: SequentialJudge.Snapshot?) {
        state.withLock { $0.judges[route] = .some(snapshot) }
        queue.async { self.drain() }
    }

    /// Writes a move toward the canary now, once; throws when the store does not take it or
    /// earlier events still wait for it. With `expected` (fleet mode, where every move is written
    /// this way) the change is stored only while the route's stored version is still `expected`;
    /// the new version, or nil when another change was stored first (nothing was written).
    @discardableResult
    public func persist(_ event: RolloutEvent, status: RolloutStatus, expecting expected: Int64? = nil) async throws(
        StoreUnavailable
    ) -> Int64? {
        let result: Result<Int64?, StoreUnavailable> = await withCheckedContinuation { continuation in
            queue.async {
                self.drain()
                let waiting = self.state.withLock { $0.pending.count }
                if waiting > 0 {
                    continuation.resume(
                        returning: .failure(
                            StoreUnavailable(
                                "the rollout store is failing (\(self.health.error ?? "unknown error")); \(waiting) event(s) wait to be written, so no move toward the canary is made until it recovers"
                            )))
                    return
                }
                do {
                    let version = try self.store.commit(event, status: status, expecting: expected)
                    self.markUp()
                    continuation.resume(returning: .success(version))
                } catch is RolloutConflict {
                    self.markUp()
                    continuation.resume(returning: .success(nil))
                } catch {
                    self.markDown(error)
                    // A store that did not answer in time may still have taken the change.
                    let outcome =
                        error is any StoreOutcomeUnknown
                        ? "it may or may not have been stored — look at the history before trying again"
                        : "nothing was changed — try again when it recovers"
                    continuation.resume(
                        returning: .failure(
                            StoreUnavailable("the rollout store cannot take the change (\(error)); \(outcome)")))
                }
            }
        }
        return try result.get()
    }

    /// Runs a read of the store on a queue of its own — never on the caller's thread, so a store
    /// that answers over the network (PostgreSQL) never blocks Swift's cooperative threads — and
    /// reads never wait behind a write that waits for a lock.
    public func read<T: Sendable>(_ body: @escaping @Sendable (any RolloutStore) throws -> T) async throws -> T {
        let store = self.store
        return try await withCheckedThrowingContinuation { continuation in
            readQueue.async { continuation.resume(with: Result { try body(store) }) }
        }
    }

    /// Checks that the store takes writes, when nothing is waiting (a waiting event is its own check).
    public func probe() {
        // One probe at a time: while the store hangs, probes must not pile up ahead of a command.
        let start = state.withLock { state -> Bool in
            guard !state.probing else { return false }
            state.probing = true
            return true
        }
        guard start else { return }
        queue.async {
            defer { self.state.withLock { $0.probing = false } }
            guard self.state.withLock({ $0.pending.isEmpty }) else { return }
            do {
                try self.store.probe()
                self.markUp()
            } catch {
                self.markDown(error)
            }
        }
    }

    /// Waits until every queued event and judge state is written or `timeout` passes; true when
    /// none is left.
    public func flush(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let empty: Bool = await withCheckedContinuation { continuation in
                queue.async {
                    self.drain()
                    continuation.resume(returning: self.state.withLock { $0.pending.isEmpty && $0.judges.isEmpty })
                }
            }
            if empty { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return state.withLock { $0.pending.isEmpty && $0.judges.isEmpty }
    }

    // MARK: On the queue

    private func drain() {
        journal()
        while let next = state.withLock({ $0.pending.first }) {
            do {
                try store.commit(next.event, status: next.status)
                state.withLock { _ = $0.pending.removeFirst() }
                journal()
                markUp()
            } catch {
                markDown(error)
                scheduleRetry()
                return
            }
        }
        while let (route, snapshot) = state.withLock({ $0.judges.first.map { ($0.key, $0.value) } }) {
            do {
                try store.saveJudge(route: route, snapshot: snapshot)
                state.withLock { state in
                    // Unless a newer state arrived meanwhile.
                    if state.judges[route].map({ $0 == snapshot }) == true { state.judges[route] = nil }
                }
                markUp()
            } catch {
                markDown(error)
                scheduleRetry()
                return
            }
        }
    }

    /// Makes the journal file hold exactly the waiting events (none: no file). A write that fails
    /// (a full disk) is logged by the health change it causes and tried again on the next drain.
    private func journal() {
        guard let journalPath else { return }
        let (pending, journaled) = state.withLock { ($0.pending, $0.journaled) }
        guard pending.count != journaled else { return }
        do {
            if pending.isEmpty {
                try? FileManager.default.removeItem(atPath: journalPath)
            } else {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                try Self.writeDurably(try encoder.encode(pending), to: journalPath)
            }
            state.withLock { $0.journaled = pending.count }
        } catch {
            markDown(error)
        }
    }

    /// Writes a file whole, fsynced, by rename: after a crash it is the old file or the new one.
    private static func writeDurably(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw JournalError(path: temporary, errno: errno) }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == data.count, synced == 0 else { throw JournalError(path: temporary, errno: errno) }
        guard rename(temporary, path) == 0 else { throw JournalError(path: path, errno: errno) }
    }

    /// Commits the safe moves a previous run left in the journal (skipping any the store already
    /// has), then removes it; the number committed. Call before reading the store's states.
    public static func replayJournal(at path: String, into store: any RolloutStore) throws -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        let waiting = try JSONDecoder().decode([Pending].self, from: data)
        var committed = 0
        for entry in waiting {
            if try store.events(route: entry.event.route, limit: 100).contains(entry.event) { continue }
            try store.commit(entry.event, status: entry.status)
            committed += 1
        }
        try FileManager.default.removeItem(atPath: path)
        return committed
    }

    private func scheduleRetry() {
        let delay: Int? = state.withLock { state in
            guard !state.retryScheduled else { return nil }
            state.retryScheduled = true
            defer { state.backoffMillis = min(state.backoffMillis * 2, 2000) }
            return state.backoffMillis
        }
        guard let delay else { return }
        queue.asyncAfter(deadline: .now() + .milliseconds(delay)) {
            self.state.withLock { $0.retryScheduled = false }
            self.drain()
        }
    }

    private func markUp() {
        let changed = state.withLock { state -> Bool in
            defer {
                state.up = true
                state.error = nil
                state.downSince = nil
                state.backoffMillis = 100
            }
            return !state.up
        }
        if changed { onHealthChange(health) }
    }

    private func markDown(_ error: any Error) {
        let changed = state.withLock { state -> Bool in
            defer {
                state.up = false
                state.error = "\(error)"
                if state.downSince == nil { state.downSince = Int64(Date().timeIntervalSince1970 * 1000) }
            }
            return state.up
        }
        if changed { onHealthChange(health) }
    }
}

/// The journal of waiting safe moves could not be written.
struct JournalError: Error, CustomStringConvertible {
    var path: String
    var errno: Int32
    var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}
