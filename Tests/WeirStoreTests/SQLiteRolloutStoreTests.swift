import Foundation
import Testing
import WeirCore
import WeirStore

@Suite struct SQLiteRolloutStoreTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var path: String { directory.appendingPathComponent("state.sqlite").path }

    func event(_ route: String, _ to: RolloutPhase, at: Int64, reason: String = "r") -> RolloutEvent {
        RolloutEvent(
            at: at, route: route, from: .progressing, to: to, fromStep: 1, toStep: 2, weights: ["v1": 75, "v2": 25],
            actor: .admin, reason: reason, kind: .step)
    }

    @Test func statesAndEventsSurviveReopening() throws {
        let status = RolloutStatus(
            phase: .paused, step: 2, stable: "v1", canary: "v2", previousStable: nil, pinnedPercent: 33.5,
            consecutiveFailures: 1)
        do {
            let store = try SQLiteRolloutStore(path: path)
            try store.commit(
                event("fraud", .progressing, at: 1_000),
                status: RolloutStatus(phase: .progressing, step: 1, stable: "v1", canary: "v2"))
            try store.commit(event("fraud", .paused, at: 2_000, reason: "pinned \"quoted\" ✓"), status: status)
            try store.commit(
                event("other", .idle, at: 3_000), status: RolloutStatus(phase: .idle, stable: "a", canary: nil))
        }
        let reopened = try SQLiteRolloutStore(path: path)
        let statuses = try reopened.loadStatuses()
        #expect(statuses["fraud"] == status)
        #expect(statuses["other"] == RolloutStatus(phase: .idle, stable: "a", canary: nil))
        let events = try reopened.events(route: "fraud", limit: 10)
        #expect(events.map(\.at) == [2_000, 1_000])
        #expect(events[0] == event("fraud", .paused, at: 2_000, reason: "pinned \"quoted\" ✓"))
        #expect(try reopened.events(route: "fraud", limit: 1).count == 1)
        #expect(try reopened.events(route: "none", limit: 5).isEmpty)
    }

    @Test func migrationsAreVersionedAndAppliedOnce() throws {
        let store = try SQLiteRolloutStore(path: path)
        #expect(try store.appliedMigrations() == ["v1: rollout state and events", "v2: sequential judge state", "v3: rollout versions"])
        let again = try SQLiteRolloutStore(path: path)
        #expect(try again.appliedMigrations() == ["v1: rollout state and events", "v2: sequential judge state", "v3: rollout versions"])
    }

    @Test func aCorruptFileIsAnErrorNotASilentReset() throws {
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StoreError.self) { try SQLiteRolloutStore(path: path) }
        #expect(error.description.contains(path))
        #expect(error.description.contains("does not start over silently"))
        // The file is left as it was.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x42, count: 8192))
    }

    @Test func anUnwritableLocationIsAnError() throws {
        #expect(throws: StoreError.self) { try SQLiteRolloutStore(path: "/nonexistent-dir/weir/state.sqlite") }
    }
}

/// Both stores version each route's state: a change made from a state another change replaced
/// is refused (compare-and-swap), never applied over it.
@Suite struct RolloutVersionTests {
    @Test func aChangeFromAStaleVersionIsRefusedAndNothingIsWritten() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-cas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stores: [any RolloutStore] = [
            try SQLiteRolloutStore(path: directory.appendingPathComponent("s.sqlite").path), InMemoryRolloutStore(),
        ]
        for store in stores {
            func event(_ reason: String) -> RolloutEvent {
                RolloutEvent(
                    at: 1, route: "fraud", from: .progressing, to: .progressing, fromStep: 0, toStep: 1,
                    weights: [:], actor: .policy, reason: reason, kind: .step)
            }
            let status = RolloutStatus(phase: .progressing, step: 1, stable: "v1", canary: "v2")
            #expect(try store.commit(event("first"), status: status, expecting: 0) == 1)
            // Two changes made from version 1: the first is stored, the second refused.
            #expect(try store.commit(event("second"), status: status, expecting: 1) == 2)
            #expect(throws: RolloutConflict.self) { try store.commit(event("stale"), status: status, expecting: 1) }
            #expect(throws: RolloutConflict.self) { try store.commit(event("again"), status: status, expecting: 0) }
            #expect(try store.events(route: "fraud", limit: 10).map(\.reason) == ["second", "first"])
            #expect(try store.loadRollouts()["fraud"]?.version == 2)
            // Unconditional (one instance): whatever the version is.
            #expect(try store.commit(event("third"), status: status, expecting: nil) == 3)
        }
    }
}
