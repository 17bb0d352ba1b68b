import Foundation
import NIOHTTP1
import Testing
import Logging
import WeirConfig
import WeirCore
import WeirDemo
import WeirFleet
import WeirTesting

/// CONTRACT §9 — fleet mode: three `weir serve` processes on one real PostgreSQL behave as one
/// router under a load spread over all three.
extension IntegrationTests {
    @Suite struct FleetTests {
        static let path = "/v2/models/fraud/infer"

        static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

        /// Every event starts where the one before it ended: no change was made from a stale state.
        static func expectOneChain(_ events: [Fleet.StoredEvent]) {
            for (earlier, later) in zip(events, events.dropFirst()) {
                #expect(
                    later.from == earlier.to && later.fromStep == earlier.toStep,
                    "event \(later) does not start where \(earlier) ended")
            }
        }

        @Test func aFailingCanaryIsRolledBackOnceAndEveryInstanceFollowsWithinASecond() async throws {
            try await withDemoServers([
                DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2", errorRate: 0.6),
            ]) {
                servers in
                try await Fleet.with(routes: fastRolloutRoute(stable: servers[0].url, canary: servers[1].url)) {
                    fleet in
                    let load = SpreadLoad(ports: fleet.members.map(\.port), path: Self.path)
                    var rollback: Fleet.StoredEvent?
                    let deadline = ContinuousClock.now + .seconds(30)
                    while rollback == nil, ContinuousClock.now < deadline {
                        rollback = try fleet.events().first { $0.kind == "rollback" }
                        if rollback == nil { try await Task.sleep(for: .milliseconds(25)) }
                    }
                    let event = try #require(rollback, "the failing canary was not rolled back within 30 s")
                    let followed = try #require(
                        try await fleet.waitForCanaryWeight(0, limit: .seconds(5)), "not every instance took weight 0")
                    let sinceCommit = Self.nowMillis() - event.atMillis
                    #expect(
                        sinceCommit <= 1000, "all three at weight 0 \(sinceCommit) ms after the rollback was stored")
                    _ = followed
                    // Traffic keeps coming; the fleet makes no second decision about it.
                    try await Task.sleep(for: .seconds(3))
                    let tally = await load.stop()
                    let events = try fleet.events()
                    #expect(events.filter { $0.kind == "rollback" }.count == 1, "\(events)")
                    #expect(
                        events.filter { $0.kind == "reconcile" }.count == 1,
                        "one instance started the rollout: \(events)")
                    Self.expectOneChain(events)
                    #expect(tally.failed.isEmpty, "\(tally.failed.prefix(5))")
                    // Each instance served: the load really was spread.
                    for member in fleet.members {
                        #expect((tally.byPort[member.port] ?? 0) > 50, "\(tally.byPort)")
                    }
                    // After the rollback every instance sends everything to the stable.
                    for member in fleet.members {
                        for _ in 0..<10 {
                            let response = try await TestHTTPClient.request(
                                port: member.port, method: .POST, path: Self.path, body: Array("{}".utf8))
                            #expect(response.header("x-weir-version") == "v1")
                        }
                    }
                }
            }
        }

        @Test func aHealthyCanaryIsPromotedWithOneEventPerStep() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await Fleet.with(routes: fastRolloutRoute(stable: servers[0].url, canary: servers[1].url)) {
                    fleet in
                    let load = SpreadLoad(ports: fleet.members.map(\.port), path: Self.path)
                    let deadline = ContinuousClock.now + .seconds(40)
                    while try !fleet.events().contains(where: { $0.kind == "promote" }), ContinuousClock.now < deadline
                    {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(try await fleet.waitForCanaryWeight(100, limit: .seconds(2)) != nil)
                    try await Task.sleep(for: .seconds(2))
                    let tally = await load.stop()
                    let events = try fleet.events()
                    #expect(
                        events.map(\.kind) == ["reconcile", "step", "promote"],
                        "one event per step, none twice: \(events)")
                    Self.expectOneChain(events)
                    #expect(tally.failed.isEmpty, "\(tally.failed.prefix(5))")
                    #expect((tally.byVersion["v2"] ?? 0) > 0 && (tally.byVersion["v1"] ?? 0) > 0)
                }
            }
        }

        @Test func killingTheJudgeHandsTheRolloutToAnotherThatContinuesItsEvidence() async throws {
            let judge =
                "      judge: sequential\n      sequential: { latency: off, min_bake_time: 120s, max_step_time: 120s }"
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let routes =
                    fastRolloutRoute(stable: servers[0].url, canary: servers[1].url, checks: false) + "\n" + judge
                try await Fleet.with(routes: routes) { fleet in
                    let load = SpreadLoad(ports: fleet.members.map(\.port), path: Self.path)
                    defer { Task { _ = await load.stop() } }
                    try await Task.sleep(for: .seconds(8))
                    func storedEvidence() throws -> (requests: Int, updated: Int64)? {
                        let row = try fleet.database.psql(
                            "SELECT state::json->>'canaryRequestsInStep', updated_at FROM weir_rollout_judge WHERE route = 'fraud'",
                            database: "weir")
                        let fields = row.split(separator: "|").map(String.init)
                        guard fields.count == 2, let requests = Int(fields[0]), let updated = Int64(fields[1]) else {
                            return nil
                        }
                        return (requests, updated)
                    }
                    let oldJudge = try #require(try fleet.judge(), "no instance holds the judge's lock")
                    // An operator pauses through an instance that does not judge: the held canary
                    // stays judged, and its stored evidence is never dropped, not even for a moment.
                    let other = try #require(fleet.members.first { $0 !== oldJudge })
                    #expect(try other.weirctl(["pause", "fraud"]).status == 0)
                    for _ in 0..<25 {
                        #expect(try storedEvidence() != nil, "the stored evidence vanished after a pause")
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let before = try #require(try storedEvidence(), "the judge stored no evidence")
                    #expect(before.requests > 50, "too little canary traffic to tell continuing from starting over")
                    await oldJudge.crash()
                    let killedAt = Self.nowMillis()

                    // Another instance takes the lock and continues the stored test.
                    var successor: WeirProcess?
                    var continued: (requests: Int, updated: Int64)?
                    let deadline = ContinuousClock.now + .seconds(10)
                    while ContinuousClock.now < deadline, successor == nil || continued == nil {
                        successor = try fleet.judge()
                        if let evidence = try storedEvidence(), evidence.updated > killedAt + 500 {
                            continued = evidence
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    let tookOver = Self.nowMillis() - killedAt
                    #expect(successor != nil && successor !== oldJudge, "no other instance judges 10 s after the kill")
                    if let successor {
                        let text = try await TestHTTPClient.request(
                            port: successor.adminPort, path: "/metrics", headers: [("authorization", "Bearer tok")]
                        ).text
                        #expect(text.contains("weir_fleet_judge 1"), "\(text.split(separator: "\n").filter { $0.contains("fleet") })")
                        // The killed one counts until 5 s without a heartbeat.
                        #expect(text.contains("weir_fleet_instances 2") || text.contains("weir_fleet_instances 3"))
                    }
                    let after = try #require(
                        continued, "the new judge stored no evidence within 10 s (took \(tookOver) ms)")
                    #expect(
                        after.requests >= before.requests,
                        "the new judge started over (\(after.requests) canary requests in the step, \(before.requests) before)"
                    )
                    // Same step, same rollout, nothing re-decided.
                    let events = try fleet.events()
                    #expect(events.map(\.kind) == ["reconcile", "pause"], "\(events)")
                    for member in fleet.members where member.child != nil {
                        #expect(try await Fleet.canaryWeight(of: member) == 20)
                    }
                    _ = await load.stop()
                }
            }
        }

        @Test func aDatabaseOutageUnderLoadLosesNoRequestAndDecisionsResume() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let routes = fastRolloutRoute(
                    stable: servers[0].url, canary: servers[1].url, steps: "[10, 20, 30, 40, 50, 60, 70, 80]")
                try await Fleet.with(routes: routes) { fleet in
                    let load = SpreadLoad(ports: fleet.members.map(\.port), path: Self.path)
                    try await Task.sleep(for: .milliseconds(500))
                    try fleet.database.stop()
                    let stoppedAt = Self.nowMillis()
                    try await Task.sleep(for: .seconds(2))
                    // Commands wait for the database, and say so.
                    let pause = try fleet.members[1].weirctl(["pause", "fraud"])
                    #expect(pause.status != 0)
                    #expect(pause.stderr.contains("store"), "\(pause.stderr)")
                    let during = try fleet.members[2].weirctl(["status"])
                    #expect(during.stdout.contains("STORE FAILING"), "\(during.stdout)")
                    let versionsBefore = load.current.byVersion
                    try await Task.sleep(for: .seconds(8))
                    // The weights in force kept both versions serving through the outage.
                    let versionsDuring = load.current.byVersion
                    #expect((versionsDuring["v2"] ?? 0) > (versionsBefore["v2"] ?? 0))
                    #expect((versionsDuring["v1"] ?? 0) > (versionsBefore["v1"] ?? 0))
                    let eventsBefore = try? fleet.events()  // the database is down: nil
                    #expect(eventsBefore == nil)
                    try fleet.database.start()
                    let restartedAt = Self.nowMillis()
                    // Decisions resume: the policy steps on again.
                    let deadline = ContinuousClock.now + .seconds(20)
                    while try !fleet.events().contains(where: { $0.atMillis > restartedAt && $0.kind == "step" }),
                        ContinuousClock.now < deadline
                    {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    let tally = await load.stop()
                    let events = try fleet.events()
                    #expect(events.contains { $0.atMillis > restartedAt && $0.kind == "step" }, "\(events)")
                    #expect(!events.contains { $0.atMillis > stoppedAt && $0.atMillis < restartedAt })
                    Self.expectOneChain(events)
                    #expect(tally.failed.isEmpty, "requests failed during the outage: \(tally.failed.prefix(5))")
                    #expect(tally.ok > 500)
                    // Commands work again.
                    let resumed = try fleet.members[1].weirctl(["pause", "fraud"])
                    #expect(resumed.status == 0, "\(resumed.stderr)")
                }
            }
        }

        @Test func aRollbackSentToOneInstanceTakesEffectOnTheOthersWithinASecond() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                // The policy's default 30 s windows never move the rollout during the test.
                let routes = routeYAML(versions: [("v1", servers[0].url), ("v2", servers[1].url)], steps: "[20, 50]")
                try await Fleet.with(routes: routes) { fleet in
                    #expect(try await fleet.waitForCanaryWeight(20, limit: .seconds(5)) != nil)
                    let rollback = try fleet.members[1].weirctl(["rollback", "fraud", "--reason", "bad model"])
                    #expect(rollback.status == 0, "\(rollback.stderr)")
                    let took = try #require(
                        try await fleet.waitForCanaryWeight(0, limit: .seconds(5)),
                        "a and c did not follow b's rollback")
                    #expect(took <= .seconds(1), "a and c took \(took) to follow")
                    let last = try #require(try fleet.events().last)
                    #expect(last.kind == "rollback" && last.actor == "admin" && last.instance == "b", "\(last)")
                    let status = try fleet.members[0].weirctl(["status"])
                    #expect(status.stdout.contains("ROLLED_BACK"), "\(status.stdout)")
                    #expect(status.stdout.contains("b ") && status.stdout.contains("judge"), "\(status.stdout)")
                }
            }
        }

        @Test func operatorsRacingThePolicyNeverApplyAChangeMadeFromAStaleState() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let routes = fastRolloutRoute(
                    stable: servers[0].url, canary: servers[1].url, steps: "[10, 20, 30, 40, 50, 60, 70, 80, 90]")
                try await Fleet.with(routes: routes) { fleet in
                    let load = SpreadLoad(ports: fleet.members.map(\.port), path: Self.path)
                    // Pause and resume, sent to every instance at once, again and again, while the
                    // judge steps the canary on: each change either lands on the state it was
                    // made from or is refused.
                    var accepted = 0
                    var refused = 0
                    for round in 0..<6 {
                        let verb = round % 2 == 0 ? "pause" : "resume"
                        let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                            for port in fleet.members.map(\.adminPort) {
                                group.addTask {
                                    try await TestHTTPClient.request(
                                        port: port, method: .POST, path: "/v1/routes/fraud/\(verb)",
                                        headers: [
                                            ("authorization", "Bearer tok"), ("content-type", "application/json"),
                                        ],
                                        body: Array("{}".utf8)
                                    ).status
                                }
                            }
                            return try await group.reduce(into: [Int]()) { $0.append($1) }
                        }
                        accepted += answers.filter { $0 == 200 }.count
                        refused += answers.filter { $0 == 409 }.count
                        let unexpected = answers.filter { $0 != 200 && $0 != 409 }
                        #expect(unexpected.isEmpty, "\(answers)")
                        // Running long enough between a resume and the next pause for a window of
                        // the fleet's counts (which lag a second or two) to end.
                        try await Task.sleep(for: .milliseconds(round % 2 == 0 ? 300 : 4500))
                    }
                    let tally = await load.stop()
                    let events = try fleet.events()
                    Self.expectOneChain(events)
                    #expect(events.filter { $0.actor == "admin" }.count == accepted, "\(accepted) accepted: \(events)")
                    #expect(events.contains { $0.actor == "policy" && $0.kind == "step" }, "\(events)")
                    #expect(refused > 0, "three instances sending the same command at once: all but one are refused")
                    #expect(tally.failed.isEmpty)
                }
            }
        }

        @Test func instancesWhoseConfigsDisagreeLeaveTheRolloutAlone() async throws {
            try await withDemoServers([
                DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2"), DemoModelBehavior(version: "v3"),
            ]) { servers in
                let agreed = routeYAML(versions: [("v1", servers[0].url), ("v2", servers[1].url)], steps: "[20, 50]")
                // c is mid-way through a rolling update: it names another canary.
                let updated = routeYAML(
                    versions: [("v1", servers[0].url), ("v2", servers[1].url), ("v3", servers[2].url)], canary: "v3",
                    steps: "[20, 50]")
                try await Fleet.with(routes: agreed, routesOf: ["c": updated]) { fleet in
                    let events = try fleet.events()
                    #expect(events.map(\.instance) == ["a"], "c must not restart the rollout for its own canary: \(events)")
                    for member in fleet.members {
                        let (_, route) = try await member.admin("GET", "/v1/routes/fraud", token: member.token)
                        let disagreement = route["disagreement"] as? String ?? ""
                        #expect(disagreement.contains("canary=v3") && disagreement.contains("canary=v2"), "\(route)")
                        // Everyone keeps routing by the stored rollout (c's config has v2 too).
                        #expect((route["weights"] as? [String: Double])?["v2"] == 20, "\(route)")
                    }
                    let refused = try await fleet.members[0].admin("POST", "/v1/routes/fraud/promote", body: "{}", token: "tok")
                    #expect(refused.status == 409)
                    #expect(refused.json["error"] as? String == "config_disagreement", "\(refused.json)")
                    // Stopping the canary never waits for the configs to agree.
                    let paused = try await fleet.members[2].admin("POST", "/v1/routes/fraud/pause", body: "{}", token: "tok")
                    #expect(paused.status == 200, "\(paused.json)")
                    #expect(try fleet.events().last.map { $0.kind == "pause" && $0.instance == "c" } == true)
                    let status = try fleet.members[1].weirctl(["status"])
                    #expect(status.stdout.contains("CONFIG DISAGREEMENT"), "\(status.stdout)")
                    // Once c is gone (5 s without a heartbeat), a and b agree and steer again.
                    await fleet.members[2].stop()
                    var answer = 0
                    let deadline = ContinuousClock.now + .seconds(12)
                    while answer != 200, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(500))
                        answer = try await fleet.members[0].admin("POST", "/v1/routes/fraud/resume", body: "{}", token: "tok")
                            .status
                    }
                    #expect(answer == 200)
                    #expect(try fleet.events().last?.kind == "resume")
                }
            }
        }

        @Test func twoProcessesUnderOneInstanceNameAreToldSo() async throws {
            let server = try await PostgresServer()
            defer { try? server.stop(remove: true) }
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let routes = routeYAML(versions: [("v1", servers[0].url)], canary: nil, steps: "[50]")
                let state = "{ postgres: \"\(server.url)\", instance: same }"
                let first = try await WeirProcess(routes: routes, state: state)
                let second = try await WeirProcess(routes: routes, state: state)
                try await Task.sleep(for: .seconds(3))
                var logs: [String] = []
                for process in [first, second] {
                    process.child?.signal(SIGTERM)
                    _ = await process.child?.waitForExit(limit: .seconds(10))
                    logs.append(process.child?.standardErrorText() ?? "")
                    await process.stop()
                }
                #expect(
                    logs.contains { $0.contains("another weir process uses this instance name") },
                    "\(logs.map { $0.suffix(600) })")
            }
        }

        /// Two instances' stores changing one route from the same version at the same moment, over
        /// and over: each time exactly one change is stored and the other is told it lost.
        @Test func twoInstancesCommittingFromTheSameVersionStoreExactlyOne() async throws {
            let server = try await PostgresServer()
            defer { try? server.stop(remove: true) }
            let url = try PostgresURL.parse(server.url).get()
            let databases = try (0..<2).map { _ in
                try PostgresDatabase(url: url, password: nil, logger: Logger(label: "test"))
            }
            // Both migrate at once: the schema is made once.
            async let first = databases[0].migrate()
            async let second = databases[1].migrate()
            #expect(try await first == second)
            let stores = databases.enumerated().map { PostgresRolloutStore(database: $1, instance: "i\($0)") }
            let status = RolloutStatus(phase: .progressing, step: 0, stable: "v1", canary: "v2")
            var version: Int64 = 0
            for round in 0..<20 {
                let expected = version
                let outcomes = await withTaskGroup(of: Int64?.self) { group in
                    for (index, store) in stores.enumerated() {
                        group.addTask {
                            // The stores block their caller: run them on dispatch threads, as weir does.
                            await withCheckedContinuation { continuation in
                                DispatchQueue.global().async {
                                    let event = RolloutEvent(
                                        at: Int64(round), route: "fraud", from: .progressing, to: .progressing,
                                        fromStep: 0, toStep: 0, weights: [:], actor: index == 0 ? .policy : .admin,
                                        reason: "round \(round) by \(index)", kind: .step)
                                    continuation.resume(
                                        returning: try? store.commit(event, status: status, expecting: expected))
                                }
                            }
                        }
                    }
                    return await group.reduce(into: [Int64?]()) { $0.append($1) }
                }
                let stored = outcomes.compactMap { $0 }
                #expect(stored == [expected + 1], "round \(round): \(outcomes)")
                version = stored.first ?? version
            }
            let events = try stores[0].events(route: "fraud", limit: 100)
            #expect(events.count == 20)
            #expect(Set(events.map(\.at)) == Set((0..<20).map(Int64.init)), "one event per round")
            #expect(try stores[1].loadRollouts()["fraud"]?.version == 20)
        }
    }
}
