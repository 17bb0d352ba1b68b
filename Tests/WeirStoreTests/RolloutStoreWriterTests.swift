import Foundation
import GRDB
import Testing
import WeirCore
import WeirStore

/// `RolloutStoreWriter` against a real SQLite file whose write lock another connection holds.
@Suite struct RolloutStoreWriterTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var path: String { directory.appendingPathComponent("state.sqlite").path }

    func event(_ to: RolloutPhase, _ reason: String, kind: RolloutTransition.Kind = .rollback) -> RolloutEvent {
        RolloutEvent(
            at: Int64(Date().timeIntervalSince1970 * 1000), route: "fraud", from: .progressing, to: to, fromStep: 0,
            toStep: 0, weights: ["v1": 100, "v2": 0], actor: .admin, reason: reason, kind: kind)
    }

    /// Another connection holding the write lock until `release`.
    final class Lock {
        let queue: DatabaseQueue
        init(path: String) throws {
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
        }
        func release() throws {
            try queue.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        }
    }

    @Test func safeMovesWaitInOrderWhileTheStoreIsLockedAndMovesTowardTheCanaryAreRefused() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteRolloutStore(path: path)
        let writer = RolloutStoreWriter(store: store)
        let lock = try Lock(path: path)
        let status = RolloutStatus(phase: .rolledBack, stable: "v1", canary: "v2")
        writer.persistEventually(event(.rolledBack, "first"), status: status)
        writer.persistEventually(event(.rolledBack, "second"), status: status)
        // Handing over never waits for the store.
        #expect(writer.pendingEvents(route: "fraud").map(\.reason) == ["second", "first"])
        // Refused while the lock is still held (it is released only below): the move toward the
        // canary does not wait for the store. (How long the refusal takes — the busy timeout of
        // 0.4 s per queued write — is a figure for a benchmark, not a wall-clock bound here.)
        await #expect(throws: StoreUnavailable.self) {
            try await writer.persist(
                event(.progressing, "advance", kind: .step), status: RolloutStatus(phase: .progressing, step: 1, stable: "v1", canary: "v2"))
        }
        #expect(!writer.health.up)
        #expect(writer.health.error != nil)
        #expect(try store.events(route: "fraud", limit: 10).isEmpty)

        try lock.release()
        #expect(await writer.flush(timeout: .seconds(10)))
        #expect(writer.health.up)
        #expect(writer.health.pendingEvents == 0)
        #expect(try store.events(route: "fraud", limit: 10).map(\.reason) == ["second", "first"])
        #expect(try store.loadStatuses()["fraud"]?.phase == .rolledBack)
        // Once nothing waits, a move toward the canary is written at once.
        try await writer.persist(
            event(.progressing, "retry", kind: .retry), status: RolloutStatus(phase: .progressing, stable: "v1", canary: "v2"))
        #expect(try store.events(route: "fraud", limit: 1).first?.reason == "retry")
    }

    @Test func theProbeNoticesALockWithNothingToWrite() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = RolloutStoreWriter(store: try SQLiteRolloutStore(path: path))
        writer.probe()
        _ = await writer.flush(timeout: .seconds(1))
        #expect(writer.health.up)
        let lock = try Lock(path: path)
        writer.probe()
        for _ in 0..<50 where writer.health.up { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!writer.health.up)
        try lock.release()
        writer.probe()
        for _ in 0..<50 where !writer.health.up { try await Task.sleep(for: .milliseconds(50)) }
        #expect(writer.health.up)
    }

    @Test func aJudgeStateIsKeptReplacedAndForgotten() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteRolloutStore(path: path)
        var judge = SequentialJudge(policy: SequentialPolicy())
        var canary = RequestStats()
        canary.record(RequestOutcome(status: 500, failure: nil, firstByteNanos: nil, totalNanos: 1_000_000))
        judge.observe(canary: canary, stable: RequestStats(), weightPercent: 5, errorKinds: [.http5xx])
        let snapshot = judge.snapshot(canary: "v2", stable: "v1", canaryRequestsInStep: 1)
        try store.saveJudge(route: "fraud", snapshot: snapshot)
        #expect(try SQLiteRolloutStore(path: path).loadJudges()["fraud"] == snapshot)
        let writer = RolloutStoreWriter(store: store)
        writer.saveJudge(route: "fraud", snapshot: nil)
        #expect(await writer.flush(timeout: .seconds(5)))
        for _ in 0..<50 where try store.loadJudges()["fraud"] != nil { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try store.loadJudges().isEmpty)
    }

    @Test func aSafeMoveWaitingWhenWeirDiesIsStoredAtTheNextStart() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let journal = path + ".pending.json"
        let status = RolloutStatus(phase: .rolledBack, stable: "v1", canary: "v2")
        let rollback = event(.rolledBack, "rolled back while the store was locked")
        let store = try SQLiteRolloutStore(path: path)
        let writer = RolloutStoreWriter(store: store, journalPath: journal)
        let lock = try Lock(path: path)
        writer.persistEventually(rollback, status: status)
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: journal) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(FileManager.default.fileExists(atPath: journal))
        // The disk as a kill -9 would leave it now: the lock stops every write, so a copy is exact.
        let image = directory.appendingPathComponent("after-crash").path
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
        for suffix in ["", "-wal", ".pending.json"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: image + "/state.sqlite" + suffix)
        }
        try lock.release()
        _ = await writer.flush(timeout: .seconds(5))

        let imagePath = image + "/state.sqlite"
        let restarted = try SQLiteRolloutStore(path: imagePath)
        #expect(try restarted.events(route: "fraud", limit: 10).isEmpty)
        #expect(try RolloutStoreWriter.replayJournal(at: imagePath + ".pending.json", into: restarted) == 1)
        #expect(!FileManager.default.fileExists(atPath: imagePath + ".pending.json"))
        #expect(try restarted.loadStatuses()["fraud"]?.phase == .rolledBack)
        #expect(try restarted.events(route: "fraud", limit: 10).map(\.reason) == [rollback.reason])
        #expect(try RolloutStoreWriter.replayJournal(at: imagePath + ".pending.json", into: restarted) == 0)
        // The live writer, once the lock went, stored it too and removed its journal.
        #expect(try store.events(route: "fraud", limit: 10).map(\.reason) == [rollback.reason])
        #expect(!FileManager.default.fileExists(atPath: journal))
    }
}
