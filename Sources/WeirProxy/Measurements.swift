import Synchronization
import WeirCore

/// The merged per-second statistics of every (route, version) series, fed by the collector from
/// the event loops' recorders and read by the rollout engine and the admin API.
public final class Measurements: Sendable {
    private struct Store {
        var registry = SeriesRegistry()
        var windows: [SeriesID: SlidingWindow] = [:]
    }

    private let store: Mutex<Store>
    private let capacitySeconds: Int
    /// Every route's shadow comparisons.
    public let shadows = ShadowBook()
    /// Told about every collected second, outside the lock (the metrics exporter).
    private let observer = Mutex<(@Sendable ([(SeriesKey, RequestStats)]) -> Void)?>(nil)

    /// Sets the one observer of collected seconds.
    public func observe(_ callback: @escaping @Sendable ([(SeriesKey, RequestStats)]) -> Void) {
        observer.withLock { $0 = callback }
    }

    /// - Parameter capacitySeconds: how much history each series keeps (the longest policy
    ///   interval plus warm-up, at least).
    public init(capacitySeconds: Int) {
        self.capacitySeconds = capacitySeconds
        self.store = Mutex(Store())
    }

    /// The series id for a route's version, created on first use.
    public func seriesID(for key: SeriesKey) -> SeriesID {
        store.withLock { $0.registry.id(for: key) }
    }

    /// Merges drained buckets in and tells the observer.
    func add(_ buckets: [PerSecondRecorder.Bucket]) {
        let capacity = capacitySeconds
        let keyed = store.withLock { store in
            for bucket in buckets {
                store.windows[bucket.series, default: SlidingWindow(capacitySeconds: capacity)]
                    .add(second: bucket.second, weight: bucket.weight, stats: bucket.stats)
            }
            return buckets.map { (store.registry.keys[$0.series.rawValue], $0.stats) }
        }
        if let callback = observer.withLock({ $0 }) { callback(keyed) }
    }

    /// Adds one second of a series measured elsewhere (a fleet's instances, summed); the observer
    /// is not told, so this instance's own metrics stay its own.
    public func add(_ key: SeriesKey, second: Int64, weight: Int, stats: RequestStats) {
        let capacity = capacitySeconds
        store.withLock { store in
            let id = store.registry.id(for: key)
            store.windows[id, default: SlidingWindow(capacitySeconds: capacity)]
                .add(second: second, weight: weight, stats: stats)
        }
    }

    /// Every series' buckets for seconds in `[from, to)`: what a fleet instance reports.
    public func buckets(from: Int64, to: Int64) -> [(key: SeriesKey, second: Int64, weight: Int, stats: RequestStats)] {
        store.withLock { store in
            store.windows.flatMap { id, window in
                window.buckets(from: from, to: to).map { (store.registry.keys[id.rawValue], $0.second, $0.weight, $0.stats) }
            }
        }
    }

    /// The statistics of one series over seconds `[from, to)` of the monotonic clock.
    public func stats(for key: SeriesKey, from: Int64, to: Int64) -> RequestStats {
        store.withLock { store in
            guard let id = store.registry.existingID(for: key), let window = store.windows[id] else {
                return RequestStats()
            }
            return window.stats(from: from, to: to)
        }
    }

    /// One second of a series by the canary weight (basis points) its requests were routed under.
    public func slices(for key: SeriesKey, second: Int64) -> [Int: RequestStats] {
        store.withLock { store in
            guard let id = store.registry.existingID(for: key), let window = store.windows[id] else { return [:] }
            return window.slices(second: second)
        }
    }

    /// Requests and errors by kind since the process started.
    public func lifetime(for key: SeriesKey) -> (requests: UInt64, errorsByKind: [UInt64]) {
        store.withLock { store in
            guard let id = store.registry.existingID(for: key), let window = store.windows[id] else {
                return (0, Array(repeating: 0, count: ErrorKind.count))
            }
            return (window.lifetimeRequests, window.lifetimeErrorsByKind)
        }
    }
}
