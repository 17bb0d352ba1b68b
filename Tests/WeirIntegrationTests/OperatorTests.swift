import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// `weirctl` against a live weir, and restarts after `kill -9`.
    @Suite struct OperatorTests {
        @Test func weirctlRollbackMovesAllTrafficToStableWithinOneSecond() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await withWeir(routes: AdminAPITests.routes(servers[0].url, servers[1].url), token: "tok-123") {
                    weir in
                    #expect(try weir.weirctl(["set-weight", "fraud", "50"]).status == 0)
                    let start = ContinuousClock.now
                    let port = weir.port
                    // Load on 4 connections while an operator rolls back at 1 s.
                    async let load = withThrowingTaskGroup(of: [(Duration, String)].self) { group in
                        for _ in 0..<4 {
                            group.addTask {
                                try await TestHTTPClient.withConnection(port: port) { client in
                                    var seen: [(Duration, String)] = []
                                    while ContinuousClock.now - start < .seconds(3) {
                                        let response = try await client.request(
                                            method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                                        seen.append(
                                            (ContinuousClock.now - start, response.header("x-weir-version") ?? "?"))
                                    }
                                    return seen
                                }
                            }
                        }
                        return try await group.reduce(into: []) { $0 += $1 }
                    }
                    try await Task.sleep(for: .seconds(1))
                    let issued = ContinuousClock.now - start
                    let rollback = try weir.weirctl(["rollback", "fraud", "--reason", "wrong outputs on slice A"])
                    let seen = try await load
                    #expect(rollback.status == 0, "\(rollback.stderr)")
                    #expect(rollback.stdout.contains("rolled_back"))
                    let lastCanary = try #require(seen.filter { $0.1 == "v2" }.map(\.0).max())
                    #expect(
                        lastCanary - issued < .seconds(1),
                        "canary still served \(lastCanary - issued) after the rollback was issued")
                    #expect(seen.filter { $0.0 > issued + .seconds(1) }.allSatisfy { $0.1 == "v1" })
                    print("weirctl rollback -> last canary response: \(lastCanary - issued)")

                    let history = try weir.weirctl(["history", "fraud"])
                    #expect(history.status == 0)
                    let newest = history.stdout.split(separator: "\n").dropFirst().first ?? ""
                    #expect(newest.contains("admin"))
                    #expect(newest.contains("rolled back by operator: wrong outputs on slice A"))
                    let json = try weir.weirctl(["history", "fraud", "--json"])
                    #expect(json.stdout.hasPrefix("{\"events\":["))
                }
            }
        }

        @Test func weirctlExitCodesSayWhatHappened() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await withWeir(routes: AdminAPITests.routes(servers[0].url, servers[1].url), token: "tok-123") {
                    weir in
                    let status = try weir.weirctl(["status"])
                    #expect(status.status == 0)
                    #expect(status.stdout.contains("fraud  PROGRESSING"))
                    #expect(status.stdout.contains("owner=risk-team"))
                    #expect(
                        try weir.weirctl(["status", "fraud", "--json"]).stdout.contains("\"state\":\"progressing\""))
                    #expect(try weir.weirctl(["pause", "fraud"]).status == 0)
                    let refused = try weir.weirctl(["pause", "fraud"])
                    #expect(refused.status == 1)
                    #expect(refused.stderr.contains("already paused"))
                    #expect(try weir.weirctl(["retry", "nope"]).status == 1)
                    #expect(try weir.weirctl(["set-weight", "fraud", "150"]).status == 2)
                    #expect(try weir.weirctl(["frobnicate"]).status == 2)
                    let unauthorized = try weir.weirctl(["resume", "fraud"], withToken: false)
                    #expect(unauthorized.status == 3)
                    #expect(unauthorized.stderr.contains("unauthorized"))
                }
            }
            let deadPort = try await FreePort.find()
            let unreachable = try ChildProcess.run(
                product: "weirctl", arguments: ["status", "--admin", "http://127.0.0.1:\(deadPort)"])
            #expect(unreachable.status == 3)
            #expect(
                unreachable.stderr
                    == "weirctl: cannot reach weir at http://127.0.0.1:\(deadPort) (connection refused)\n")
        }

        @Test func killNineAtAnyPointLosesNoCommittedStateOrEvent() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await withWeir(routes: AdminAPITests.routes(servers[0].url, servers[1].url), token: "tok") { weir in
                    // Each step changes the rollout, then weir is killed without warning and restarted.
                    let steps: [(String, String?)] = [
                        ("/v1/routes/fraud/promote", nil),
                        ("/v1/routes/fraud/weight", "{\"canary\":35}"),
                        ("/v1/routes/fraud/resume", nil),
                        ("/v1/routes/fraud/rollback", "{\"reason\":\"crash test\"}"),
                    ]
                    for (path, body) in steps {
                        // Traffic flows while the command lands.
                        let port = weir.port
                        async let traffic: Void = {
                            for _ in 0..<50 {
                                _ = try? await TestHTTPClient.request(port: port, path: "/v2/models/fraud")
                            }
                        }()
                        let answer = try await weir.admin("POST", path, body: body, token: "tok")
                        #expect(answer.status == 200, "\(path): \(answer.json)")
                        await traffic
                        let before = try await weir.admin("GET", "/v1/routes/fraud").json
                        let eventsBefore =
                            try await weir.admin("GET", "/v1/routes/fraud/events?limit=100").json["events"]
                            as? [[String: Any]] ?? []
                        await weir.crash()
                        try await weir.start()
                        let after = try await weir.admin("GET", "/v1/routes/fraud").json
                        let eventsAfter =
                            try await weir.admin("GET", "/v1/routes/fraud/events?limit=100").json["events"]
                            as? [[String: Any]] ?? []
                        #expect(after["state"] as? String == before["state"] as? String, "after \(path)")
                        #expect(after["step"] as? Int == before["step"] as? Int)
                        #expect(after["weights"] as? [String: Double] == before["weights"] as? [String: Double])
                        #expect(eventsAfter.count == eventsBefore.count)
                        #expect(eventsAfter.map { $0["at"] as? String } == eventsBefore.map { $0["at"] as? String })
                        // And the data plane serves the restored weights.
                        let weights = after["weights"] as? [String: Double] ?? [:]
                        var versionsSeen = Set<String>()
                        for _ in 0..<60 {
                            versionsSeen.insert(
                                try await TestHTTPClient.request(port: weir.port, path: "/v2/models/fraud").header(
                                    "x-weir-version") ?? "?")
                        }
                        #expect(
                            versionsSeen == Set(weights.filter { $0.value > 0 }.keys),
                            "weights \(weights), served by \(versionsSeen)")
                    }
                }
            }
        }
    }
}

extension IntegrationTests {
    @Suite struct ReloadTests {
        @Test func twentyReloadsUnderLoadFailNoRequest() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await withWeir(routes: AdminAPITests.routes(servers[0].url, servers[1].url), token: "tok") { weir in
                    let port = weir.port
                    let start = ContinuousClock.now
                    async let load = withThrowingTaskGroup(of: [Int].self) { group in
                        for _ in 0..<4 {
                            group.addTask {
                                try await TestHTTPClient.withConnection(port: port) { client in
                                    var statuses: [Int] = []
                                    while ContinuousClock.now - start < .seconds(4) {
                                        statuses.append(try await client.request(path: "/v2/models/fraud").status)
                                    }
                                    return statuses
                                }
                            }
                        }
                        return try await group.reduce(into: []) { $0 += $1 }
                    }
                    let original = try String(contentsOfFile: weir.configPath, encoding: .utf8)
                    for index in 0..<20 {
                        // Alternate two valid configs (the route's timeout changes) and both reload paths.
                        let text =
                            index % 2 == 0
                            ? original.replacingOccurrences(of: "stable: v1", with: "timeout: 7s\n    stable: v1")
                            : original
                        try text.write(toFile: weir.configPath, atomically: true, encoding: .utf8)
                        if index % 4 == 0 {
                            weir.child?.signal(SIGHUP)
                        } else {
                            #expect(try await weir.admin("POST", "/v1/reload", token: "tok").status == 200)
                        }
                        try await Task.sleep(for: .milliseconds(150))
                    }
                    // An invalid file changes nothing.
                    let before = try await weir.admin("GET", "/v1/routes/fraud").json
                    try original.replacingOccurrences(of: "stable: v1", with: "stable: v9").write(
                        toFile: weir.configPath, atomically: true, encoding: .utf8)
                    weir.child?.signal(SIGHUP)
                    #expect(try await weir.admin("POST", "/v1/reload", token: "tok").status == 422)
                    let after = try await weir.admin("GET", "/v1/routes/fraud").json
                    #expect(after["weights"] as? [String: Double] == before["weights"] as? [String: Double])
                    #expect(after["state"] as? String == before["state"] as? String)
                    let statuses = try await load
                    #expect(statuses.count > 500)
                    #expect(
                        statuses.allSatisfy { $0 == 200 },
                        "\(statuses.filter { $0 != 200 }.count) failed of \(statuses.count)")
                    print(
                        "reloads under load: \(statuses.count) requests, \(statuses.filter { $0 != 200 }.count) failed")
                }
            }
        }
    }
}
