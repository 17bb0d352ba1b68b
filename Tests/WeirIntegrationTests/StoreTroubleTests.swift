import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

/// CONTRACT §8 "Store trouble": with the SQLite file locked by another process, rollbacks and
/// pauses still take effect at once, moves toward a canary are refused with a message, the
/// admin API keeps answering, and every event reaches the disk once the lock is gone.
extension IntegrationTests {
    @Suite struct StoreTroubleTests {
        /// Holds an exclusive write lock on a SQLite file from another process until stopped.
        static func lock(_ path: String) throws -> ChildProcess {
            let script = """
                import sqlite3, sys, time
                connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
                connection.execute("BEGIN EXCLUSIVE")
                print("locked", flush=True)
                time.sleep(120)
                """
            let child = try ChildProcess(command: ["python3", "-c", script, path])
            guard child.readLine() == "locked" else {
                throw TestToolError(message: "python3 could not lock \(path): \(child.standardErrorText())")
            }
            return child
        }

        /// Rows of the events table as the file holds them, read by another process.
        static func storedEvents(_ path: String) throws -> [String] {
            let result = try ChildProcess.run(command: [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print(r[0]+' '+r[1]+' '+r[2]) for r in c.execute('select route, to_phase, actor from rollout_events order by id')]",
                path,
            ])
            return result.stdout.split(separator: "\n").map(String.init)
        }

        /// `fraud`, whose 60 s windows never judge during the test, and `spam`, whose fast rollout
        /// of a failing canary the policy rolls back.
        static func routes(stable: String, healthyCanary: String, failingCanary: String) -> String {
            """
            routes:
              - name: fraud
                match: { path_prefix: /v2/models/fraud }
                versions:
                  v1: { upstreams: ["\(stable)"] }
                  v2: { upstreams: ["\(healthyCanary)"] }
                stable: v1
                canary: v2
                policy: { steps: [20, 50], interval: 60s, warmup: 1s }
            """ + "\n" + fastRolloutRoute(stable: stable, canary: failingCanary, name: "spam", steps: "[30, 60]", routesLine: false)
        }

        @Test func aLockedStoreNeverDelaysARollbackAndLosesNoEvent() async throws {
            try await withDemoServers([
                DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2"),
                DemoModelBehavior(version: "v2", errorRate: 0.6),
            ]) { servers in
                try await withWeir(
                    routes: Self.routes(stable: servers[0].url, healthyCanary: servers[1].url, failingCanary: servers[2].url),
                    token: "tok"
                ) { weir in
                    let database = weir.directory.appendingPathComponent("state.sqlite").path
                    let locker = try Self.lock(database)
                    defer { locker.signal(SIGKILL) }

                    // A manual rollback answers at once and takes effect at once.
                    let began = ContinuousClock.now
                    let rollback = try weir.weirctl(["rollback", "fraud", "--reason", "store drill"])
                    let took = ContinuousClock.now - began
                    #expect(rollback.status == 0, "weirctl rollback: \(rollback.stderr)")
                    #expect(took < .seconds(1), "weirctl rollback took \(took) while the store was locked")
                    for _ in 0..<20 {
                        let response = try await TestHTTPClient.request(
                            port: weir.port, method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                        #expect(response.header("x-weir-version") == "v1")
                    }

                    // The failing canary of the other route is rolled back by the policy on time.
                    let started = ContinuousClock.now
                    var state = "?"
                    try await TestHTTPClient.withConnection(port: weir.port) { client in
                        while ContinuousClock.now - started < .seconds(10) {
                            for _ in 0..<40 {
                                _ = try await client.request(
                                    method: .POST, path: "/v2/models/spam/infer", body: Array("{}".utf8))
                            }
                            state = try await weir.admin("GET", "/v1/routes/spam").json["state"] as? String ?? "?"
                            if state == "rolled_back" { break }
                        }
                    }
                    #expect(state == "rolled_back")
                    #expect(ContinuousClock.now - started < .seconds(8))
                    try await TestHTTPClient.withConnection(port: weir.port) { client in
                        for _ in 0..<20 {
                            let response = try await client.request(
                                method: .POST, path: "/v2/models/spam/infer", body: Array("{}".utf8))
                            #expect(response.header("x-weir-version") == "v1")
                        }
                    }

                    // The store's trouble shows; moves toward a canary are refused with a reason.
                    let ready = try await weir.admin("GET", "/readyz")
                    #expect(ready.status == 200)
                    #expect(ready.json["status"] as? String == "degraded")
                    let store = try #require(ready.json["store"] as? [String: Any])
                    #expect(store["up"] as? Bool == false)
                    #expect((store["pending_events"] as? Int ?? 0) >= 2)
                    let status = try weir.weirctl(["status"])
                    #expect(status.stdout.contains("STORE FAILING"), "\(status.stdout)")
                    let retry = try await weir.admin("POST", "/v1/routes/fraud/retry", token: "tok")
                    #expect(retry.status == 503)
                    #expect((retry.json["message"] as? String ?? "").contains("store"))
                    let metrics = String(decoding: try await TestHTTPClient.request(port: weir.adminPort, path: "/metrics").body, as: UTF8.self)
                    #expect(metrics.contains("weir_store_up 0"))
                    // Events not yet on disk are in the history already, newest first.
                    let history = try await weir.admin("GET", "/v1/routes/fraud/events?limit=5").json["events"] as? [[String: Any]] ?? []
                    #expect(history.first?["to"] as? String == "rolled_back")
                    #expect(!(try Self.storedEvents(database)).contains("fraud rolled_back admin"))

                    // The lock goes; every event reaches the disk, in order, and the store is up again.
                    locker.signal(SIGKILL)
                    _ = await locker.waitForExit(limit: .seconds(5))
                    var stored: [String] = []
                    for _ in 0..<50 {
                        stored = try Self.storedEvents(database)
                        if stored.contains("fraud rolled_back admin") && stored.contains("spam rolled_back policy") { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(stored.contains("fraud rolled_back admin"))
                    #expect(stored.contains("spam rolled_back policy"))
                    for _ in 0..<50 {
                        if try await weir.admin("GET", "/readyz").json["status"] as? String == "ready" { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(try await weir.admin("GET", "/readyz").json["status"] as? String == "ready")
                    // And the state survives a crash: the routes come back rolled back.
                    await weir.crash()
                    try await weir.start()
                    #expect(try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String == "rolled_back")
                    #expect(try await weir.admin("GET", "/v1/routes/spam").json["state"] as? String == "rolled_back")

                    // A rollback made while the store is locked survives a kill -9 before the lock goes.
                    #expect(try weir.weirctl(["retry", "fraud"]).status == 0)
                    let relocker = try Self.lock(database)
                    defer { relocker.signal(SIGKILL) }
                    #expect(try weir.weirctl(["rollback", "fraud", "--reason", "second drill"]).status == 0)
                    let journal = database + ".pending.json"
                    for _ in 0..<100 where !FileManager.default.fileExists(atPath: journal) {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    #expect(FileManager.default.fileExists(atPath: journal))
                    await weir.crash()
                    relocker.signal(SIGKILL)
                    _ = await relocker.waitForExit(limit: .seconds(5))
                    try await weir.start()
                    #expect(try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String == "rolled_back")
                    #expect(try Self.storedEvents(database).filter { $0 == "fraud rolled_back admin" }.count == 2)
                    #expect(!FileManager.default.fileExists(atPath: journal))
                }
            }
        }

        /// The error events the sequential judge has weighed so far, from its last verdict
        /// (`… canary errors K of M at weight …`).
        static func judgedErrors(_ weir: WeirProcess) async throws -> Int? {
            let route = try await weir.admin("GET", "/v1/routes/spam").json
            let reason = (route["last_verdict"] as? [String: Any])?["reason"] as? String ?? ""
            guard let range = reason.range(of: #" of (\d+) at weight"#, options: .regularExpression) else { return nil }
            return Int(reason[range].split(separator: " ")[1])
        }

        /// Sends inference requests to `path` (default: route `spam`) for `duration`.
        static func load(_ weir: WeirProcess, path: String = "/v2/models/spam/infer", for duration: Duration) async throws {
            let until = ContinuousClock.now + duration
            try await TestHTTPClient.withConnection(port: weir.port) { client in
                while ContinuousClock.now < until {
                    _ = try await client.request(method: .POST, path: path, body: Array("{}".utf8))
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
        }

        /// A sequential rollout of `spam` where both versions fail 8 % (below `trouble_error_rate`):
        /// evidence accumulates, never enough to roll back or to advance. `interrupt` restarts or
        /// reloads weir after 4 s of traffic; returns the error events the judge had weighed
        /// before and after it (plus one more second of traffic).
        static func judgedErrorsAround(_ interrupt: (WeirProcess) async throws -> Void) async throws -> (Int, Int) {
            try await withDemoServers([
                DemoModelBehavior(version: "v1", errorRate: 0.08), DemoModelBehavior(version: "v2", errorRate: 0.08),
            ]) { servers in
                let judge = "      judge: sequential\n      sequential: { latency: off, min_bake_time: 60s, max_step_time: 60s }"
                return try await withWeir(
                    routes: fastRolloutRoute(stable: servers[0].url, canary: servers[1].url, name: "spam", checks: false)
                        + "\n" + judge, token: "tok"
                ) { weir in
                    try await Self.load(weir, for: .seconds(4))
                    try await Task.sleep(for: .milliseconds(1500))
                    let before = try #require(try await Self.judgedErrors(weir))
                    try await interrupt(weir)
                    try await Self.load(weir, for: .seconds(1))
                    try await Task.sleep(for: .milliseconds(1500))
                    let after = try #require(try await Self.judgedErrors(weir))
                    #expect(try await weir.admin("GET", "/v1/routes/spam").json["state"] as? String == "progressing")
                    return (before, after)
                }
            }
        }

        @Test func theSequentialJudgeContinuesItsEvidenceAfterAKill9() async throws {
            let (before, after) = try await Self.judgedErrorsAround { weir in
                await weir.crash()
                try await weir.start()
            }
            #expect(before >= 20, "too few error events to tell a restored judge from a fresh one")
            // A fresh judge would hold one second's events (about a quarter of `before`); at most
            // the last second before the kill may be lost.
            #expect(Double(after) >= Double(before) * 0.6, "before the kill \(before), after \(after)")
        }

        @Test func aReloadThatLeavesTheRolloutAloneKeepsTheJudgesEvidence() async throws {
            let (before, after) = try await Self.judgedErrorsAround { weir in
                // The route changes (its timeout), its rollout does not: one test goes on.
                let config = try String(contentsOfFile: weir.configPath, encoding: .utf8)
                try config.replacingOccurrences(of: "  - name: spam\n", with: "  - name: spam\n    timeout: 7s\n")
                    .write(toFile: weir.configPath, atomically: true, encoding: .utf8)
                #expect(try weir.weirctl(["reload"]).status == 0)
            }
            #expect(before >= 20)
            #expect(after >= before, "before the reload \(before), after \(after)")
        }
    }
}
