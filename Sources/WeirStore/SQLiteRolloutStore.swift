import Foundation
import GRDB
import WeirCore

/// The embedded, durable `RolloutStore`: one SQLite file in WAL mode with full fsync, so an event
/// and the state it produces survive `kill -9` the moment `commit` returns. A pool of readers, so
/// reading the audit log never waits behind a write that waits for a lock.
///
/// Tables: `rollout_state` (one row per route: the current `RolloutStatus`) and `rollout_events`
/// (append-only audit log), created by versioned migrations.
public final class SQLiteRolloutStore: RolloutStore {
    private let database: DatabasePool
    public let path: String

    /// Opens (creating if needed) the store at `path`. A file that is not a Weir store, is corrupt
    /// or cannot be written is an error — never a silent reset.
    public init(path: String) throws(StoreError) {
        self.path = path
        var configuration = Configuration()
        // A write waits this long for a lock another process holds, then fails and is retried by
        // `RolloutStoreWriter`: short, so a command during store trouble answers within a second.
        configuration.busyMode = .timeout(0.4)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            _ = try database.read { db in try Row.fetchAll(db, sql: "PRAGMA quick_check") }
        } catch {
            throw StoreError(path: path, reason: "\(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: rollout state and events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rollout_state (
                        route TEXT PRIMARY KEY NOT NULL,
                        phase TEXT NOT NULL,
                        step INTEGER NOT NULL,
                        stable TEXT NOT NULL,
                        canary TEXT,
                        previous_stable TEXT,
                        pinned_percent DOUBLE,
                        consecutive_failures INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE TABLE rollout_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at INTEGER NOT NULL,
                        route TEXT NOT NULL,
                        from_phase TEXT NOT NULL,
                        to_phase TEXT NOT NULL,
                        from_step INTEGER NOT NULL,
                        to_step INTEGER NOT NULL,
                        weights TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        kind TEXT NOT NULL
                    );
                    CREATE INDEX rollout_events_by_route ON rollout_events(route, id);
                    """)
        }
        migrator.registerMigration("v2: sequential judge state") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rollout_judge (
                        route TEXT PRIMARY KEY NOT NULL,
                        state TEXT NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v3: rollout versions") { db in
            try db.execute(sql: "ALTER TABLE rollout_state ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
        }
        return migrator
    }

    /// The migrations this file has applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        try database.read { db in try Self.migrator.appliedMigrations(db) }
    }

    public func loadRollouts() throws -> [String: StoredRollout] {
        try database.read { db in
            var rollouts: [String: StoredRollout] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM rollout_state") {
                let route: String = row["route"]
                guard let phase = RolloutPhase(rawValue: row["phase"]) else {
                    throw StoreError(
                        path: path, reason: "route \(route) has an unknown state '\(row["phase"] as String)'")
                }
                let status = RolloutStatus(
                    phase: phase,
                    step: row["step"],
                    stable: row["stable"],
                    canary: row["canary"],
                    previousStable: row["previous_stable"],
                    pinnedPercent: row["pinned_percent"],
                    consecutiveFailures: row["consecutive_failures"]
                )
                rollouts[route] = StoredRollout(status: status, version: row["version"])
            }
            return rollouts
        }
    }

    public func commit(_ event: RolloutEvent, status: RolloutStatus, expecting expected: Int64?) throws -> Int64 {
        let weights = event.weightsText
        return try database.write { db in
            let found = try Int64.fetchOne(
                db, sql: "SELECT version FROM rollout_state WHERE route = ?", arguments: [event.route])
            if let expected, expected != (found ?? 0) {
                throw RolloutConflict(route: event.route, expected: expected, found: found)
            }
            let version = (found ?? 0) + 1
            try db.execute(
                sql: """
                    INSERT INTO rollout_events (at, route, from_phase, to_phase, from_step, to_step, weights, actor, reason, kind)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    event.at, event.route, event.from.rawValue, event.to.rawValue, event.fromStep, event.toStep,
                    weights,
                    event.actor.rawValue, event.reason, event.kind.rawValue,
                ]
            )
            try db.execute(
                sql: """
                    INSERT INTO rollout_state (route, phase, step, stable, canary, previous_stable, pinned_percent, consecutive_failures, updated_at, version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(route) DO UPDATE SET phase = excluded.phase, step = excluded.step, stable = excluded.stable,
                        canary = excluded.canary, previous_stable = excluded.previous_stable, pinned_percent = excluded.pinned_percent,
                        consecutive_failures = excluded.consecutive_failures, updated_at = excluded.updated_at,
                        version = excluded.version
                    """,
                arguments: [
                    event.route, status.phase.rawValue, status.step, status.stable, status.canary,
                    status.previousStable,
                    status.pinnedPercent, status.consecutiveFailures, event.at, version,
                ]
            )
            return version
        }
    }

    public func probe() throws {
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            try db.execute(sql: "ROLLBACK")
        }
    }

    public func saveJudge(route: String, snapshot: SequentialJudge.Snapshot?) throws {
        guard let snapshot else {
            try database.write { db in try db.execute(sql: "DELETE FROM rollout_judge WHERE route = ?", arguments: [route]) }
            return
        }
        let text = try JudgeSnapshotText.encode(snapshot)
        try database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rollout_judge (route, state, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT(route) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                    """,
                arguments: [route, text, Int64(Date().timeIntervalSince1970 * 1000)])
        }
    }

    public func loadJudges() throws -> [String: SequentialJudge.Snapshot] {
        try database.read { db in
            var judges: [String: SequentialJudge.Snapshot] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT route, state FROM rollout_judge") {
                let text: String = row["state"]
                // A state this build cannot read starts a fresh judge rather than stopping weir.
                if let snapshot = JudgeSnapshotText.decode(text) {
                    judges[row["route"]] = snapshot
                }
            }
            return judges
        }
    }

    public func events(route: String, limit: Int) throws -> [RolloutEvent] {
        try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM rollout_events WHERE route = ? ORDER BY id DESC LIMIT ?",
                arguments: [route, limit]
            ).map { row in
                RolloutEvent(
                    storedAt: row["at"], route: row["route"], from: row["from_phase"], to: row["to_phase"],
                    fromStep: row["from_step"], toStep: row["to_step"], weightsText: row["weights"], actor: row["actor"],
                    reason: row["reason"], kind: row["kind"])
            }
        }
    }
}

/// The state store could not be opened or read; says which file and why.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String {
        "cannot use the rollout state store \(path): \(reason). Weir does not start over silently: fix the file's permissions, or move it aside to start with no rollout history."
    }
}
