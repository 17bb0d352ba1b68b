import Foundation
import PostgresNIO
import WeirCore

/// The fleet's `RolloutStore` (CONTRACT §9): one row per route in `weir_rollout_state`, changed
/// only by compare-and-swap on its version, in one transaction with its event in
/// `weir_rollout_events`, announced with `NOTIFY weir_rollout` when it commits — so every instance
/// applies each change once, after it is durable.
public final class PostgresRolloutStore: RolloutStore {
    public let database: PostgresDatabase
    /// This instance's name, kept with each event it stores.
    public let instance: String

    public init(database: PostgresDatabase, instance: String) {
        self.database = database
        self.instance = instance
    }

    public func loadRollouts() throws -> [String: StoredRollout] {
        try database.blocking("load rollouts") { try await self.readRollouts() }
    }

    /// Every route's stored rollout and version (the fleet's sync reads this every second).
    public func rollouts() async throws -> [String: StoredRollout] {
        try await database.bounded("read rollouts") { try await self.readRollouts() }
    }

    private func readRollouts() async throws -> [String: StoredRollout] {
        var rollouts: [String: StoredRollout] = [:]
        let rows = try await self.database.client.query(
            """
            SELECT route, phase, step, stable, canary, previous_stable, pinned_percent, consecutive_failures, version
            FROM weir_rollout_state
            """, logger: self.database.logger)
        for try await (route, phase, step, stable, canary, previousStable, pinned, failures, version)
            in rows.decode(
                (String, String, Int, String, String?, String?, Double?, Int, Int64).self)
        {
            // A state this build does not know (a newer instance wrote it): that route is left
            // as it is here, the others still follow the fleet.
            guard let phase = RolloutPhase(rawValue: phase) else {
                self.database.logger.warning(
                    "a stored rollout state this build does not know is left alone",
                    metadata: ["route": "\(route)", "state": "\(phase)"])
                continue
            }
            let status = RolloutStatus(
                phase: phase, step: step, stable: stable, canary: canary, previousStable: previousStable,
                pinnedPercent: pinned, consecutiveFailures: failures)
            rollouts[route] = StoredRollout(status: status, version: version)
        }
        return rollouts
    }

    public func commit(_ event: RolloutEvent, status: RolloutStatus, expecting expected: Int64?) throws -> Int64 {
        let weights = event.weightsText
        let instance = self.instance
        return try database.blocking("commit a rollout change") {
            try await self.database.transaction { connection in
                let route = event.route
                let phase = status.phase.rawValue
                let stored: PostgresRowSequence
                switch expected {
                case nil:
                    stored = try await connection.query(
                        """
                        INSERT INTO weir_rollout_state (route, phase, step, stable, canary, previous_stable, pinned_percent,
                            consecutive_failures, updated_at, version)
                        VALUES (\(route), \(phase), \(status.step), \(status.stable), \(status.canary),
                            \(status.previousStable), \(status.pinnedPercent), \(status.consecutiveFailures), \(event.at), 1)
                        ON CONFLICT (route) DO UPDATE SET phase = excluded.phase, step = excluded.step,
                            stable = excluded.stable, canary = excluded.canary, previous_stable = excluded.previous_stable,
                            pinned_percent = excluded.pinned_percent, consecutive_failures = excluded.consecutive_failures,
                            updated_at = excluded.updated_at, version = weir_rollout_state.version + 1
                        RETURNING version
                        """, logger: self.database.logger)
                case 0?:
                    stored = try await connection.query(
                        """
                        INSERT INTO weir_rollout_state (route, phase, step, stable, canary, previous_stable, pinned_percent,
                            consecutive_failures, updated_at, version)
                        VALUES (\(route), \(phase), \(status.step), \(status.stable), \(status.canary),
                            \(status.previousStable), \(status.pinnedPercent), \(status.consecutiveFailures), \(event.at), 1)
                        ON CONFLICT (route) DO NOTHING
                        RETURNING version
                        """, logger: self.database.logger)
                case let expected?:
                    stored = try await connection.query(
                        """
                        UPDATE weir_rollout_state SET phase = \(phase), step = \(status.step), stable = \(status.stable),
                            canary = \(status.canary), previous_stable = \(status.previousStable),
                            pinned_percent = \(status.pinnedPercent), consecutive_failures = \(status.consecutiveFailures),
                            updated_at = \(event.at), version = version + 1
                        WHERE route = \(route) AND version = \(expected)
                        RETURNING version
                        """, logger: self.database.logger)
                }
                var version: Int64?
                for try await value in stored.decode(Int64.self) { version = value }
                guard let version else { throw RolloutConflict(route: route, expected: expected, found: nil) }
                try await connection.query(
                    """
                    INSERT INTO weir_rollout_events (at, route, from_phase, to_phase, from_step, to_step, weights, actor,
                        reason, kind, instance)
                    VALUES (\(event.at), \(route), \(event.from.rawValue), \(event.to.rawValue), \(event.fromStep),
                        \(event.toStep), \(weights), \(event.actor.rawValue), \(event.reason), \(event.kind.rawValue),
                        \(instance))
                    """, logger: self.database.logger)
                // Delivered to every listening instance when (and only if) this transaction commits.
                try await connection.query(
                    "SELECT pg_notify(\(PostgresDatabase.channel), \(route))", logger: self.database.logger)
                return version
            }
        }
    }

    public func events(route: String, limit: Int) throws -> [RolloutEvent] {
        try database.blocking("read the audit log") {
            let rows = try await self.database.client.query(
                """
                SELECT at, route, from_phase, to_phase, from_step, to_step, weights, actor, reason, kind
                FROM weir_rollout_events WHERE route = \(route) ORDER BY id DESC LIMIT \(limit)
                """, logger: self.database.logger)
            var events: [RolloutEvent] = []
            for try await (at, route, from, to, fromStep, toStep, weightsText, actor, reason, kind) in rows.decode(
                (Int64, String, String, String, Int, Int, String, String, String, String).self)
            {
                events.append(
                    RolloutEvent(
                        storedAt: at, route: route, from: from, to: to, fromStep: fromStep, toStep: toStep,
                        weightsText: weightsText, actor: actor, reason: reason, kind: kind))
            }
            return events
        }
    }

    public func probe() throws {
        try database.blocking("probe") {
            try await self.database.client.query("SELECT 1", logger: self.database.logger)
        }
    }

    public func saveJudge(route: String, snapshot: SequentialJudge.Snapshot?) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard let snapshot else {
            try database.blocking("forget a judge") {
                try await self.database.client.query(
                    "DELETE FROM weir_rollout_judge WHERE route = \(route)", logger: self.database.logger)
            }
            return
        }
        let text = try JudgeSnapshotText.encode(snapshot)
        try database.blocking("save a judge") {
            try await self.database.client.query(
                """
                INSERT INTO weir_rollout_judge (route, state, updated_at) VALUES (\(route), \(text), \(now))
                ON CONFLICT (route) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                """, logger: self.database.logger)
        }
    }

    public func loadJudges() throws -> [String: SequentialJudge.Snapshot] {
        try database.blocking("load judges") {
            var judges: [String: SequentialJudge.Snapshot] = [:]
            let rows = try await self.database.client.query(
                "SELECT route, state FROM weir_rollout_judge", logger: self.database.logger)
            for try await (route, text) in rows.decode((String, String).self) {
                // A state this build cannot read starts a fresh judge rather than stopping weir.
                if let snapshot = JudgeSnapshotText.decode(text) { judges[route] = snapshot }
            }
            return judges
        }
    }
}
