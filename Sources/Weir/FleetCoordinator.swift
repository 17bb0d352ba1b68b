import Foundation
import Logging
import ServiceLifecycle
import WeirCore
import WeirFleet
import WeirProxy

/// Keeps one instance in step with its fleet (CONTRACT §9). Once a second it writes this
/// instance's finished seconds of counts and its heartbeat, tries (or proves) the judge's lock,
/// reads who is alive and every instance's new counts into the fleet-wide measurements, and
/// applies any rollout change stored meanwhile; between beats, a `NOTIFY` from a commit wakes it
/// to apply that change at once. When the database fails, nothing here stops the data plane: the
/// weights in force stay in force and the next beat tries again.
actor FleetCoordinator {
    private let controller: RolloutController
    private let proxy: ProxyServer
    private let store: PostgresRolloutStore
    private let directory: FleetDirectory
    private let session: FleetSession
    private let instance: String
    private let address: String
    private let fleetMeasurements: Measurements
    private let logger: Logger
    private let startedAt = Int64(Date().timeIntervalSince1970 * 1000)
    private let clock = UptimeClock()
    /// Unix second minus local measurement second (the data plane stamps uptime seconds).
    private let offset: Int64
    /// How many seconds of the fleet's counts to read at start (the longest window any route needs).
    private let historySeconds: Int64
    /// The last local second whose counts the database has.
    private var reportedThrough: Int64?
    /// The last Unix second whose fleet counts are in `fleetMeasurements`.
    private var fetchedThrough: Int64?
    private var failing = false
    private var lastPrune: Int64 = 0
    private var lastTwinWarning: Int64 = -30

    init(
        controller: RolloutController, proxy: ProxyServer, store: PostgresRolloutStore, directory: FleetDirectory,
        session: FleetSession, address: String, fleetMeasurements: Measurements, historySeconds: Int, logger: Logger
    ) {
        self.controller = controller
        self.proxy = proxy
        self.store = store
        self.directory = directory
        self.session = session
        self.instance = store.instance
        self.address = address
        self.fleetMeasurements = fleetMeasurements
        self.historySeconds = Int64(historySeconds)
        self.logger = logger
        let unixNanos = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
        offset = (unixNanos - Int64(UptimeClock().now.nanoseconds) + 500_000_000) / 1_000_000_000
    }

    /// Joins the fleet before the controller loads its routes, so it knows who else runs them
    /// (and with which config); throws when the database cannot be reached.
    func join(routes: [RouteDefinition]) async throws {
        let joining = me(
            judge: false, fingerprints: RouteDefinition.rolloutFingerprints(of: routes),
            reportedThrough: clock.now.second - 1)
        try await directory.beat(instance: joining, startedAtUnixMillis: startedAt, counts: [])
        await controller.updateFleet(instances: try await directory.instances(), isJudge: false, dataThrough: nil)
    }

    /// This instance's heartbeat row; `reportedThrough` is a local second.
    private func me(judge: Bool, fingerprints: [String: String], reportedThrough: Int64) -> FleetInstance {
        FleetInstance(
            id: instance, address: address, lastSeenUnixMillis: 0, reportedThrough: reportedThrough + offset,
            judge: judge, alive: true, routes: fingerprints)
    }

    /// One beat (see the type's summary).
    func beat() async {
        // Seconds before the one collection starts in are complete once it returns (in fleet mode
        // this is the instance's only collector, so none is drained elsewhere meanwhile).
        let nowSecond = clock.now.second
        await proxy.collect()
        // Finished seconds not yet reported, at most the last minute's (older ones are lost).
        let from = max((reportedThrough ?? nowSecond - 2) + 1, nowSecond - 60)
        let counts = proxy.measurements.buckets(from: from, to: nowSecond).map {
            FleetCount(key: $0.key, second: $0.second + offset, weight: $0.weight, stats: $0.stats)
        }
        let isJudge = await session.beat()
        let fingerprints = await controller.fingerprints()
        do {
            let mine = me(judge: isJudge, fingerprints: fingerprints, reportedThrough: nowSecond - 1)
            if let twin = try await directory.beat(instance: mine, startedAtUnixMillis: startedAt, counts: counts),
                nowSecond - lastTwinWarning >= 30
            {
                lastTwinWarning = nowSecond
                logger.error(
                    "another weir process uses this instance name: each overwrites the other's counts; give every instance its own state.instance (or none: the host name and admin port)",
                    metadata: ["instance": "\(instance)", "other_address": "\(twin)"])
            }
            reportedThrough = nowSecond - 1
            let instances = try await directory.instances()
            // Every live instance has reported through this Unix second (this one included).
            let watermark = min(
                instances.filter(\.alive).map(\.reportedThrough).min() ?? mine.reportedThrough, mine.reportedThrough)
            let after = fetchedThrough ?? watermark - historySeconds
            if watermark > after {
                for count in try await directory.counts(after: after, through: watermark) {
                    fleetMeasurements.add(
                        count.key, second: count.second - offset, weight: count.weight, stats: count.stats)
                }
                fetchedThrough = watermark
            }
            await controller.adopt(try await store.rollouts())
            await controller.updateFleet(
                instances: instances, isJudge: isJudge, dataThrough: fetchedThrough.map { $0 - offset })
            if isJudge, nowSecond - lastPrune >= 10 {
                lastPrune = nowSecond
                try await directory.prune(before: watermark)
            }
            if failing {
                failing = false
                logger.notice("the fleet's database answers again; this instance is back in step")
            }
        } catch {
            // A judge that cannot read the fleet's counts cannot judge: it lets the lock go, so an
            // instance that can takes over.
            if isJudge { await session.close() }
            await controller.updateFleet(instances: nil, isJudge: false, dataThrough: nil)
            if !failing {
                failing = true
                logger.error(
                    "the fleet's database is failing: traffic keeps flowing on the weights in force; decisions and commands wait",
                    metadata: ["error": "\(error)"])
            }
        }
    }

    /// Applies each change another instance commits as its NOTIFY arrives (the beat's poll is the
    /// fallback when a notification is missed).
    func follow() async {
        for await _ in session.notifications {
            if let rollouts = try? await store.rollouts() { await controller.adopt(rollouts) }
        }
    }

    func leave() async { await session.close() }
}

/// Runs the fleet coordinator's beat and notification loops until graceful shutdown, then ends
/// the session (so another instance takes over judging at once).
struct FleetService: Service {
    let coordinator: FleetCoordinator

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await coordinator.follow() }
                group.addTask {
                    while !Task.isCancelled {
                        await coordinator.beat()
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
        await coordinator.leave()
    }
}
