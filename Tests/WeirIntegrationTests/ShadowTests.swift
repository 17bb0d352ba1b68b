import Foundation
import NIOHTTP1
import Testing
import WeirCore
import WeirDemo
import WeirProxy
import WeirTesting

/// Shadow traffic (CONTRACT §11) over real sockets: the demo model's seeded answers as stable, a
/// second stable copy and candidates, weir's data plane mirroring and comparing.
extension IntegrationTests {
    @Suite struct ShadowTests {
        static func seeded(_ version: String, flip: Double = 0, shift: Double = 0, noise: Double = 0.02) -> DemoModelBehavior {
            var behavior = DemoModelBehavior(version: version)
            behavior.seededOutputs = true
            behavior.flipRate = flip
            behavior.scoreShift = shift
            behavior.labelNoise = noise
            return behavior
        }

        /// A route `name` on /v2/models/NAME with the stable on two upstreams and `shadow` as its shadow version.
        static func route(
            _ name: String, stable: [String], shadow: String, compare: String, extra: String = "", timeout: String = "10s"
        ) -> String {
            """
              - name: \(name)
                match: { path_prefix: /v2/models/\(name)/ }
                timeout: \(timeout)
                versions:
                  v1: { upstreams: [\(stable.map { "\"\($0)\"" }.joined(separator: ", "))] }
                  cand: { upstreams: ["\(shadow)"] }
                stable: v1
                shadow: { version: cand, noise: 2, compare: \(compare)\(extra) }
            """
        }

        /// `count` inference requests with distinct inputs over `connections` keep-alive connections.
        static func load(port: Int, path: String, count: Int, connections: Int = 8, bodyBytes: Int = 0) async throws
            -> [TestHTTPClient.Response]
        {
            try await withThrowingTaskGroup(of: [TestHTTPClient.Response].self) { group in
                for connection in 0..<connections {
                    group.addTask {
                        try await TestHTTPClient.withConnection(port: port) { client in
                            var out: [TestHTTPClient.Response] = []
                            for index in stride(from: connection, to: count, by: connections) {
                                let padding = String(repeating: "x", count: bodyBytes)
                                out.append(
                                    try await client.request(
                                        method: .POST, path: path,
                                        body: Array(#"{"inputs":[{"data":[\#(index)]}],"pad":"\#(padding)"}"#.utf8)))
                            }
                            return out
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }

        /// Waits until the route's copies are all compared (or failed, or shed).
        static func settled(_ harness: ProxyHarness, route: String, expect total: UInt64) async -> ShadowTally? {
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline {
                if let tally = harness.proxy.measurements.shadows.tally(route: route),
                    tally.comparisons + tally.shed >= total
                {
                    return tally
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return harness.proxy.measurements.shadows.tally(route: route)
        }

        @Test func aCandidateThatFlipsFivePercentIsCaughtAndOneThatDiffersOnlyInItsVersionIsNot() async throws {
            try await withDemoServers([
                Self.seeded("v1"), Self.seeded("v1"), Self.seeded("v3", flip: 0.05), Self.seeded("v4"),
            ]) { servers in
                let stable = [servers[0].url, servers[1].url]
                let yaml =
                    "routes:\n"
                    + Self.route("flips", stable: stable, shadow: servers[2].url, compare: #"{ kind: label, path: "outputs[0].data" }"#)
                    + "\n"
                    + Self.route("same", stable: stable, shadow: servers[3].url, compare: "{ kind: json, ignore: [id, model_version] }")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    for route in ["flips", "same"] {
                        let answers = try await Self.load(port: harness.port, path: "/v2/models/\(route)/infer", count: 1500)
                        #expect(answers.allSatisfy { $0.status == 200 && $0.header("x-weir-version") == "v1" })
                    }
                    let flips = try #require(await Self.settled(harness, route: "flips", expect: 1500))
                    let same = try #require(await Self.settled(harness, route: "same", expect: 1500))
                    #expect(flips.comparisons == 1500 && same.comparisons == 1500)
                    #expect(flips.excessTest.eValue >= 100, "flips: e=\(flips.excessTest.eValue)")
                    #expect(abs((flips.excessDisagreement ?? 0) - 0.05) < 0.025, "\(flips.excessDisagreement ?? -1)")
                    #expect(!flips.flips.isEmpty && (flips.kappa ?? 1) < 0.98)
                    #expect(same.excessTest.eValue < 100, "same: e=\(same.excessTest.eValue) errors \(same.errors) \(same.candidateOnly) vs \(same.noiseOnly) \(harness.proxy.measurements.shadows.disagreements(route: "same", limit: 3).map(\.detail))")
                    #expect((same.agreement ?? 0) > 0.9 && (same.noiseAgreement ?? 0) > 0.9)
                    let pairs = harness.proxy.measurements.shadows.disagreements(route: "flips", limit: 5)
                    #expect(pairs.count == 5 && pairs.allSatisfy { $0.request.hasPrefix("POST /v2/models/flips/infer #") })
                }
            }
        }

        @Test func aScoreShiftedByAThirdOfASigmaShowsInKS() async throws {
            try await withDemoServers([Self.seeded("v1", noise: 0), Self.seeded("v3", shift: 0.3, noise: 0), Self.seeded("v4", noise: 0)]) {
                servers in
                let compare = #"{ kind: distribution, path: "outputs[1].data", abs: 0.01 }"#
                let yaml =
                    "routes:\n" + Self.route("shifted", stable: [servers[0].url], shadow: servers[1].url, compare: compare)
                    + "\n" + Self.route("same", stable: [servers[0].url], shadow: servers[2].url, compare: compare)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    for route in ["shifted", "same"] {
                        _ = try await Self.load(port: harness.port, path: "/v2/models/\(route)/infer", count: 1500)
                    }
                    let shifted = try #require(await Self.settled(harness, route: "shifted", expect: 1500))
                    let same = try #require(await Self.settled(harness, route: "same", expect: 1500))
                    // Two normals 0.3 σ apart: KS = 2Φ(0.15) − 1 ≈ 0.12, well above the same model's.
                    #expect(abs((shifted.ks ?? 0) - 0.12) < 0.05, "KS \(shifted.ks ?? -1)")
                    #expect((same.ks ?? 1) < 0.02 && same.agreement == 1)
                    #expect((shifted.psi ?? 0) > 0.02 && shifted.agreement == 0)
                }
            }
        }

        @Test func aShadowThatIsDownSlowOrFailingNeverChangesWhatClientsGet() async throws {
            var slow = Self.seeded("slow")
            slow.latencyMillis = 3000
            var failing = Self.seeded("failing")
            failing.errorRate = 1
            let nothing = "http://127.0.0.1:\(try await FreePort.find())"
            try await withDemoServers([Self.seeded("v1", noise: 0), slow, failing]) { servers in
                let compare = #"{ kind: label, path: "outputs[0].data" }"#
                let yaml =
                    "routes:\n" + Self.route("down", stable: [servers[0].url], shadow: nothing, compare: compare)
                    + "\n" + Self.route("slow", stable: [servers[0].url], shadow: servers[1].url, compare: compare, timeout: "1s")
                    + "\n" + Self.route("failing", stable: [servers[0].url], shadow: servers[2].url, compare: compare)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    // What the stable answers itself, input by input.
                    let direct = try await Self.load(port: servers[0].port, path: "/v2/models/m/infer", count: 40)
                    for route in ["down", "slow", "failing"] {
                        let started = ContinuousClock.now
                        let answers = try await Self.load(port: harness.port, path: "/v2/models/\(route)/infer", count: 40)
                        let took = ContinuousClock.now - started
                        #expect(answers.count == 40 && answers.allSatisfy { $0.status == 200 }, "\(route)")
                        #expect(Set(answers.map(Self.label)) == Set(direct.map(Self.label)), "\(route)")
                        // 40 requests on 8 connections: the slow shadow's 3 s would show at once.
                        #expect(took < .seconds(2), "\(route): \(took)")
                    }
                    for route in ["down", "slow", "failing"] {
                        let tally = try #require(await Self.settled(harness, route: route, expect: 40))
                        // Each failed copy is an error and a disagreement: a candidate cannot dodge the
                        // judge by failing on the inputs it would get wrong.
                        #expect(tally.errors == 40 && tally.comparisons == 40 && tally.differ == 40, "\(route): \(tally.errors) errors")
                    }
                }
            }
        }

        @Test func copiesOverMaxInFlightAreShed() async throws {
            var slow = Self.seeded("slow", noise: 0)
            slow.latencyMillis = 1000
            try await withDemoServers([Self.seeded("v1", noise: 0), slow]) { servers in
                let yaml =
                    "routes:\n"
                    + Self.route(
                        "busy", stable: [servers[0].url], shadow: servers[1].url,
                        compare: #"{ kind: label, path: "outputs[0].data" }"#, extra: ", max_in_flight: 1")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let answers = try await Self.load(port: harness.port, path: "/v2/models/busy/infer", count: 16)
                    #expect(answers.allSatisfy { $0.status == 200 })
                    let tally = try #require(await Self.settled(harness, route: "busy", expect: 16))
                    // One copy in flight per event loop (two loops), each taking a second: the rest are shed.
                    #expect(tally.shed >= 10 && tally.comparisons <= 6, "shed \(tally.shed), compared \(tally.comparisons)")
                    #expect(tally.comparisons + tally.shed == 16)
                }
            }
        }

        /// Captures in progress hold a place of `max_in_flight`; every way an exchange can end without
        /// copies gives it back (else, with `max_in_flight: 1`, one leak would shed every later copy).
        @Test func everyDroppedCaptureGivesItsPlaceBack() async throws {
            try await withDemoServers([Self.seeded("v1", noise: 0), Self.seeded("v3", noise: 0)]) { servers in
                let yaml =
                    "routes:\n"
                    + Self.route(
                        "tight", stable: [servers[0].url], shadow: servers[1].url,
                        compare: #"{ kind: label, path: "outputs[0].data" }"#, extra: ", max_in_flight: 1, max_body: 1KiB")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    // A body over max_body (shed), an answer the comparison cannot read (a 404), and a
                    // client that leaves mid-body.
                    _ = try await Self.load(port: harness.port, path: "/v2/models/tight/infer", count: 1, connections: 1, bodyBytes: 2000)
                    _ = try await TestHTTPClient.request(port: harness.port, method: .POST, path: "/v2/models/tight/nothing", body: Array("{}".utf8))
                    _ = try await RawTCPClient.exchange(
                        port: harness.port,
                        send: Array("POST /v2/models/tight/infer HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{\"in".utf8),
                        readFor: .milliseconds(200))
                    // Then requests one at a time, each compared before the next: none may be shed.
                    for index in 0..<5 {
                        let answer = try await TestHTTPClient.request(
                            port: harness.port, method: .POST, path: "/v2/models/tight/infer",
                            body: Array(#"{"inputs":[{"data":[\#(index)]}]}"#.utf8))
                        #expect(answer.status == 200)
                        _ = await Self.settled(harness, route: "tight", expect: UInt64(index + 2))
                    }
                    let tally = try #require(harness.proxy.measurements.shadows.tally(route: "tight"))
                    #expect(tally.shed == 1 && tally.comparisons == 5, "shed \(tally.shed), compared \(tally.comparisons)")
                }
            }
        }

        @Test func bodiesOverMaxBodyAreNotMirrored() async throws {
            try await withDemoServers([Self.seeded("v1", noise: 0), Self.seeded("v3", noise: 0)]) { servers in
                let yaml =
                    "routes:\n"
                    + Self.route(
                        "bounded", stable: [servers[0].url], shadow: servers[1].url,
                        compare: #"{ kind: label, path: "outputs[0].data" }"#, extra: ", max_body: 1KiB")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let big = try await Self.load(port: harness.port, path: "/v2/models/bounded/infer", count: 10, bodyBytes: 2000)
                    #expect(big.allSatisfy { $0.status == 200 })
                    _ = try await Self.load(port: harness.port, path: "/v2/models/bounded/infer", count: 10)
                    let tally = try #require(await Self.settled(harness, route: "bounded", expect: 20))
                    #expect(tally.shed == 10 && tally.comparisons == 10 && tally.agreement == 1)
                }
            }
        }

        static func label(_ response: TestHTTPClient.Response) -> String {
            let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            let outputs = json?["outputs"] as? [[String: Any]]
            return ((outputs?.first?["data"] as? [String])?.first ?? "?") + "/" + "\((outputs?.last?["data"] as? [Double])?.first ?? 0)"
        }

        /// `weir serve` with a shadow step in front of a candidate: `steps: [shadow, 50]`.
        static func shadowStepRoute(stable: [String], candidate: String) -> String {
            """
            routes:
              - name: fraud
                match: { path_prefix: /v2/models/fraud }
                versions:
                  v1: { upstreams: [\(stable.map { "\"\($0)\"" }.joined(separator: ", "))] }
                  v2: { upstreams: ["\(candidate)"] }
                stable: v1
                canary: v2
                shadow: { version: v2, noise: 2, compare: { kind: label, path: "outputs[0].data" }, redact: [id] }
                policy:
                  steps: [shadow, 50]
                  interval: 60s
                  warmup: 0s
                  min_requests: 20
                  judge: sequential
                  sequential: { latency: "off", min_bake_time: 1s, max_step_time: 60s }
            """
        }

        /// Sends distinct inputs until the route leaves the shadow step (or 60 s pass); its state then.
        static func driveShadowStep(_ weir: WeirProcess) async throws -> [String: Any] {
            let started = ContinuousClock.now
            var batch = 0
            let port = weir.port
            while ContinuousClock.now - started < .seconds(60) {
                let first = batch * 200
                _ = try await withThrowingTaskGroup(of: Void.self) { group in
                    for connection in 0..<4 {
                        group.addTask {
                            try await TestHTTPClient.withConnection(port: port) { client in
                                for index in 0..<50 {
                                    let input = first + connection * 50 + index
                                    _ = try await client.request(
                                        method: .POST, path: "/v2/models/fraud/infer",
                                        body: Array(#"{"inputs":[{"data":[\#(input)]}]}"#.utf8))
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                batch += 1
                let route = try await weir.admin("GET", "/v1/routes/fraud").json
                if route["state"] as? String != "progressing" || route["step"] as? Int != 0 { return route }
            }
            return try await weir.admin("GET", "/v1/routes/fraud").json
        }

        @Test func aShadowStepAdvancesToTheCanaryStepsOnlyOnceAgreementIsShown() async throws {
            try await withDemoServers([
                Self.seeded("v1", noise: 0.1), Self.seeded("v1", noise: 0.1), Self.seeded("v2", noise: 0.1),
                Self.seeded("v2", flip: 0.2, noise: 0.1),
            ]) { servers in
                // A candidate that answers like the stable (its own noise only): shown to agree, on to 50 %.
                try await withWeir(routes: Self.shadowStepRoute(stable: [servers[0].url, servers[1].url], candidate: servers[2].url)) {
                    weir in
                    let route = try await Self.driveShadowStep(weir)
                    #expect(route["state"] as? String == "progressing" && route["step"] as? Int == 1, "\(route)")
                    #expect((route["weights"] as? [String: Double])?["v2"] == 50)
                    let reason = (route["last_event"] as? [String: Any])?["reason"] as? String ?? ""
                    #expect(reason.contains("shadow agrees"), "\(reason)")
                    print("SHADOW-STEP advance: \(reason)")
                }
                // One that flips 20 % of classes: rolled back without ever answering a client.
                try await withWeir(routes: Self.shadowStepRoute(stable: [servers[0].url, servers[1].url], candidate: servers[3].url)) {
                    weir in
                    let route = try await Self.driveShadowStep(weir)
                    #expect(route["state"] as? String == "rolled_back", "\(route)")
                    let reason = (route["last_event"] as? [String: Any])?["reason"] as? String ?? ""
                    #expect(reason.contains("shadow differs"), "\(reason)")
                    print("SHADOW-STEP rollback: \(reason)")
                    let v2 = (route["versions"] as? [String: [String: Any]])?["v2"]
                    #expect(v2?["requests"] as? Int == 0, "the candidate answered nobody")
                    let status = try weir.weirctl(["status", "fraud"]).stdout
                    #expect(status.contains("shadow v2:") && status.contains("top flips:"), "\(status)")
                    // The dashboard shows the same: the shadow step on the ladder, the comparisons panel.
                    let page = try ChildProcess.run(command: [
                        "python3", RepositoryPath.of("scripts/dashboard_shadow_check.py"), weir.adminURL, "fraud",
                    ])
                    #expect(page.status == 0, "\(page.stdout) \(page.stderr)")
                    let diff = try weir.weirctl(["diff", "fraud", "--limit", "2"]).stdout
                    #expect(diff.contains("differs: ") && diff.contains("\"id\":\"[redacted]\""), "\(diff)")
                    #expect(!diff.contains("\"id\":\"1") && !diff.contains("\"id\":\"2"), "ids are redacted")
                }
            }
        }
    }
}
