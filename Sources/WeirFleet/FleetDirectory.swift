import Foundation
import PostgresNIO
import WeirCore

/// One weir instance as the fleet sees it (CONTRACT §9 `instances`).
public struct FleetInstance: Sendable, Hashable {
    public var id: String
    /// Where its admin API listens.
    public var address: String
    /// Its last heartbeat (Unix milliseconds, the database's clock).
    public var lastSeenUnixMillis: Int64
    /// The last Unix second whose counts it has written.
    public var reportedThrough: Int64
    public var judge: Bool
    /// Heard from within `FleetDirectory.liveness`.
    public var alive: Bool
    /// Each route's rollout fingerprint in its config (instances that disagree do not fight).
    public var routes: [String: String]

    public init(
        id: String, address: String, lastSeenUnixMillis: Int64, reportedThrough: Int64, judge: Bool, alive: Bool,
        routes: [String: String]
    ) {
        self.id = id
        self.address = address
        self.lastSeenUnixMillis = lastSeenUnixMillis
        self.reportedThrough = reportedThrough
        self.judge = judge
        self.alive = alive
        self.routes = routes
    }
}

/// One instance's counts of one series for one second and routed canary weight: its own row, so
/// instances never contend for a shared one (a G-counter: the fleet's figure is the sum).
public struct FleetCount: Sendable {
    public var key: SeriesKey
    /// Unix second.
    public var second: Int64
    /// The canary weight (basis points) the requests were routed under.
    public var weight: Int
    public var stats: RequestStats

    public init(key: SeriesKey, second: Int64, weight: Int, stats: RequestStats) {
        self.key = key
        self.second = second
        self.weight = weight
        self.stats = stats
    }
}

/// The fleet's shared tables besides the rollout itself: who is alive (`weir_instances`, one
/// heartbeat a second) and what each instance measured (`weir_counts`, one batched insert a second).
public struct FleetDirectory: Sendable {
    public let database: PostgresDatabase
    /// An instance not heard from for this long is left out of the fleet's figures and status.
    public static let liveness: Duration = .seconds(5)
    /// The most instances read (a fleet is a handful; rows beyond this are someone else's doing).
    static let maxInstances = 256
    /// How long counts are kept (the longest window any policy reads, and then some).
    public let retentionSeconds: Int64

    public init(database: PostgresDatabase, retentionSeconds: Int64) {
        self.database = database
        self.retentionSeconds = retentionSeconds
    }

    /// One heartbeat: this instance's new counts and its row, in one transaction.
    /// Returns the admin address of another live process that beats under the same instance name
    /// (a config shared with a fixed `state.instance`), which would overwrite this one's counts.
    @discardableResult
    public func beat(
        instance: FleetInstance, startedAtUnixMillis: Int64, counts: [FleetCount]
    ) async throws -> String? {
        let routes = String(
            decoding: try JSONSerialization.data(withJSONObject: instance.routes, options: [.sortedKeys]), as: UTF8.self
        )
        return try await database.bounded("heartbeat") {
            try await self.database.transaction { connection in
                // Another process under this name beat since this one's last beat.
                var twin: String?
                for try await address in try await connection.query(
                    """
                    SELECT address FROM weir_instances WHERE id = \(instance.id) AND started_at <> \(startedAtUnixMillis)
                        AND last_seen > now() - interval '3 seconds'
                    """, logger: self.database.logger
                ).decode(String.self) {
                    twin = address
                }
                if !counts.isEmpty {
                    let routeNames = counts.map(\.key.route)
                    let versions = counts.map(\.key.version)
                    let pinned = counts.map(\.key.pinned)
                    let seconds = counts.map(\.second)
                    let weights = counts.map { Int32(clamping: $0.weight) }
                    let stats = counts.map { RequestStatsRecord($0.stats).encoded() }
                    try await connection.query(
                        """
                        INSERT INTO weir_counts (instance, route, version, pinned, second, weight, stats)
                        SELECT \(instance.id), * FROM unnest(\(routeNames)::text[], \(versions)::text[], \(pinned)::bool[],
                            \(seconds)::int8[], \(weights)::int4[], \(stats)::text[])
                        ON CONFLICT (instance, route, version, pinned, second, weight) DO UPDATE SET stats = excluded.stats
                        """, logger: self.database.logger)
                }
                try await connection.query(
                    """
                    INSERT INTO weir_instances (id, address, started_at, last_seen, reported_through, judge, routes)
                    VALUES (\(instance.id), \(instance.address), \(startedAtUnixMillis), now(), \(instance.reportedThrough),
                        \(instance.judge), \(routes))
                    ON CONFLICT (id) DO UPDATE SET address = excluded.address, started_at = excluded.started_at,
                        last_seen = now(), reported_through = GREATEST(weir_instances.reported_through, excluded.reported_through),
                        judge = excluded.judge, routes = excluded.routes
                    """, logger: self.database.logger)
                return twin
            }
        }
    }

    /// Every instance heard from in the last hour, alive or not.
    public func instances() async throws -> [FleetInstance] {
        let livenessSeconds = Double(Self.liveness.components.seconds)
        return try await database.bounded("read instances") {
            let rows = try await self.database.client.query(
                """
                SELECT id, address, (extract(epoch FROM last_seen) * 1000)::int8, reported_through, judge,
                    last_seen > now() - make_interval(secs => \(livenessSeconds)), routes
                FROM weir_instances WHERE last_seen > now() - interval '1 hour' ORDER BY id LIMIT \(Self.maxInstances)
                """, logger: self.database.logger)
            var instances: [FleetInstance] = []
            for try await (id, address, lastSeen, reported, judge, alive, routesText) in rows.decode(
                (String, String, Int64, Int64, Bool, Bool, String).self)
            {
                let routes =
                    (try? JSONSerialization.jsonObject(with: Data(routesText.utf8))) as? [String: String] ?? [:]
                instances.append(
                    FleetInstance(
                        id: id, address: address, lastSeenUnixMillis: lastSeen, reportedThrough: reported, judge: judge,
                        alive: alive, routes: routes))
            }
            return instances
        }
    }

    /// Every instance's counts for Unix seconds in `(after, through]`.
    public func counts(after: Int64, through: Int64) async throws -> [FleetCount] {
        try await database.bounded("read counts") {
            let rows = try await self.database.client.query(
                """
                SELECT route, version, pinned, second, weight, stats FROM weir_counts
                WHERE second > \(after) AND second <= \(through)
                """, logger: self.database.logger)
            var counts: [FleetCount] = []
            for try await (route, version, pinned, second, weight, text) in rows.decode(
                (String, String, Bool, Int64, Int32, String).self)
            {
                // A row this build cannot read (or a damaged one) is left out, never guessed at.
                guard let stats = RequestStatsRecord(encoded: text)?.stats else { continue }
                counts.append(
                    FleetCount(
                        key: SeriesKey(route: route, version: version, pinned: pinned),
                        second: second, weight: Int(weight), stats: stats))
            }
            return counts
        }
    }

    /// Drops counts older than the retention and instances gone for an hour (the judge does this).
    public func prune(before second: Int64) async throws {
        try await database.bounded("prune") {
            try await self.database.client.query(
                "DELETE FROM weir_counts WHERE second < \(second - self.retentionSeconds)", logger: self.database.logger
            )
            try await self.database.client.query(
                "DELETE FROM weir_instances WHERE last_seen < now() - interval '1 hour'", logger: self.database.logger)
        }
    }
}
