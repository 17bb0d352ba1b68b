import NIOCore
import Synchronization
import WeirCore

/// One upstream's circuit breakers, counted over every event loop, as Envoy counts a cluster's
/// over all its workers: `max_connections: 2` means two connections to that model server, not two
/// per loop. Each loop's `UpstreamPool` asks here before it dials or queues an exchange, and
/// reports here when a connection closes or an exchange ends. A pool refused a connection because
/// other loops hold them all leaves a waker, run on its own loop as soon as one of them closes —
/// and since pools are per loop, an idle connection of another loop cannot serve it: the other
/// pools are asked to give one idle connection up, and not to keep the ones that come free while
/// anybody waits.
///
/// The request path touches it twice per exchange (an atomic add when it starts and ends); the
/// other counts move only when a connection is dialled or closed or an exchange has to wait.
final class UpstreamBudget: Sendable {
    let limits: CircuitBreakers
    /// Connections open or being dialled.
    private let connections = Atomic<Int>(0)
    /// Exchanges waiting for a connection (queued for HTTP/1.1, or for a handshake).
    private let waiting = Atomic<Int>(0)
    /// Exchanges using a connection or stream.
    private let active = Atomic<Int>(0)
    /// Pools waiting for a connection slot another loop holds; `blocked` says whether any do,
    /// so closing a connection takes no lock when none do.
    private let wakers = Mutex<[@Sendable () -> Void]>([])
    private let blocked = Atomic<Int>(0)
    /// Per pool: closes one of its idle connections, on its own loop.
    private let reclaimers = Mutex<[@Sendable () -> Void]>([])

    init(limits: CircuitBreakers) {
        self.limits = limits
    }

    var connectionCount: Int { connections.load(ordering: .relaxed) }
    var waitingCount: Int { waiting.load(ordering: .relaxed) }
    /// In flight plus waiting: what `max_requests` bounds.
    var requestCount: Int { active.load(ordering: .relaxed) + waiting.load(ordering: .relaxed) }

    /// Takes a connection slot when fewer than `max_connections` are open or being dialled.
    func reserveConnection() -> Bool {
        reserve(connections, below: limits.maxConnections)
    }

    /// Counts a connection made without asking (the one multiplexed HTTP/2 connection of a loop).
    func addConnection() {
        connections.add(1, ordering: .relaxed)
    }

    /// A connection closed, or a dial failed: its slot is free, and pools waiting for one try again.
    func connectionEnded() {
        connections.subtract(1, ordering: .relaxed)
        guard blocked.load(ordering: .acquiring) > 0 else { return }
        let woken = wakers.withLock { wakers in
            defer { wakers.removeAll() }
            return wakers
        }
        blocked.subtract(woken.count, ordering: .releasing)
        for wake in woken { wake() }
    }

    /// Runs `wake` once a connection slot comes free, and asks every pool to give up an idle
    /// connection to free one.
    func waitForConnection(_ wake: @escaping @Sendable () -> Void) {
        wakers.withLock { $0.append(wake) }
        blocked.add(1, ordering: .releasing)
        for reclaim in reclaimers.withLock({ $0 }) { reclaim() }
    }

    /// Whether a pool waits for a connection slot: a connection that comes free closes instead of
    /// resting idle, so the slot goes where it is wanted.
    var someoneWaits: Bool { blocked.load(ordering: .acquiring) > 0 }

    /// A pool joins: `reclaim` closes one of its idle connections (on its own loop).
    func addReclaimer(_ reclaim: @escaping @Sendable () -> Void) {
        reclaimers.withLock { $0.append(reclaim) }
    }

    /// Takes a place among the waiting exchanges when fewer than `max_pending` wait.
    func reserveWaiting() -> Bool {
        reserve(waiting, below: limits.maxPending)
    }

    /// Counts an exchange that waits on, moved from one wait to another (a handshake that chose
    /// HTTP/1.1 hands its waiters to the queue).
    func addWaiting() {
        waiting.add(1, ordering: .relaxed)
    }

    /// `count` exchanges stopped waiting (served, failed or gone).
    func waitingEnded(_ count: Int = 1) {
        guard count > 0 else { return }
        waiting.subtract(count, ordering: .relaxed)
    }

    func exchangeStarted() { active.add(1, ordering: .relaxed) }
    func exchangeEnded() { active.subtract(1, ordering: .relaxed) }

    private func reserve(_ counter: borrowing Atomic<Int>, below limit: Int) -> Bool {
        var current = counter.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = counter.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
