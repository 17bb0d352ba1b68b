import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

/// CONTRACT §8 "Overrides": nobody but the policy and the operator moves a rollout. Each test runs
/// `weir serve` as a real process in front of real demo model servers and attacks it from a
/// loopback client, as anyone who can reach the data plane could.
extension IntegrationTests {
    @Suite struct RolloutIntegrityTests {
        /// A fast rollout (1 s windows, two failed windows roll back) whose override trusts only a
        /// network the test client is not in, or a client presenting the secret.
        static func route(stable: String, canary: String, secretFile: String) -> String {
            fastRolloutRoute(
                stable: stable, canary: canary,
                extra: "    override: { trusted: [\"10.9.0.0/16\"], secret_file: \(secretFile) }")
        }

        static let secret = "pin-secret-\(UUID().uuidString)"

        /// Writes the override secret (mode 0600) where the config will name it.
        static func secretFile() throws -> String {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("weir-secret-\(UUID().uuidString)").path
            try WeirProcess.writeSecret(secret, to: path)
            return path
        }

        /// Weighted traffic from a well-behaved client, `rate` per second until `stop` says so.
        static func steadyTraffic(port: Int, until stop: @escaping @Sendable () async -> Bool) async throws {
            try await TestHTTPClient.withConnection(port: port) { client in
                while await !stop() {
                    _ = try await client.request(method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
        }

        static func state(_ weir: WeirProcess) async throws -> String {
            try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String ?? "?"
        }

        @Test func anonymousPinsAndAbortedUploadsCannotRollBackAHealthyCanaryAndTheOperatorsPinsAreNotEvidence()
            async throws
        {
            let secretPath = try Self.secretFile()
            defer { try? FileManager.default.removeItem(atPath: secretPath) }
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await withWeir(
                    routes: Self.route(stable: servers[0].url, canary: servers[1].url, secretFile: secretPath),
                    server: "client_body_timeout: 300ms"
                ) { weir in
                    let port = weir.port
                    let started = ContinuousClock.now
                    let done: @Sendable () async -> Bool = { ContinuousClock.now - started > .seconds(15) }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await Self.steadyTraffic(port: port, until: done) }
                        // The attacker: pinned uploads it never finishes, some abandoned, some left to stall.
                        group.addTask {
                            for index in 0..<60 where await !done() {
                                let head =
                                    "POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\nx-weir-version: v2\r\ncontent-length: 1000\r\n\r\n{\"partial"
                                _ = try? await RawTCPClient.exchange(
                                    port: port, send: Array(head.utf8),
                                    readFor: index.isMultiple(of: 2) ? .milliseconds(50) : .milliseconds(600))
                            }
                        }
                        // The operator, with the secret: pinned requests that fail on the canary.
                        group.addTask {
                            try await TestHTTPClient.withConnection(port: port) { client in
                                for _ in 0..<300 where await !done() {
                                    let response = try await client.request(
                                        path: "/status/500", headers: [("x-weir-version", "v2"), ("x-weir-override-secret", Self.secret)])
                                    #expect(response.header("x-weir-version") == "v2")
                                    try await Task.sleep(for: .milliseconds(5))
                                }
                            }
                        }
                        // Watch: the rollout must end promoted, never rolled back.
                        var final = "?"
                        while await !done() {
                            final = try await Self.state(weir)
                            if final == "promoted" || final == "rolled_back" { break }
                            try await Task.sleep(for: .milliseconds(200))
                        }
                        group.cancelAll()
                        #expect(final == "promoted", "a healthy canary under attack ended \(final)")
                    }
                    let events = try await weir.admin("GET", "/v1/routes/fraud/events?limit=50").json["events"] as? [[String: Any]] ?? []
                    #expect(!events.contains { $0["to"] as? String == "rolled_back" })
                    // The operator's pinned failures are visible, apart from the judged series.
                    let metrics = try await TestHTTPClient.request(port: weir.adminPort, path: "/metrics")
                    let text = String(decoding: metrics.body, as: UTF8.self)
                    #expect(text.contains("weir_pinned_requests_total{route=\"fraud\",version=\"v2\",code=\"5xx\"}"))
                    #expect(!text.contains("weir_requests_total{route=\"fraud\",version=\"v2\",code=\"5xx\"}"))
                }
            }
        }

        @Test func pinnedSuccessesCannotHideAFailingCanaryAndNoPinReachesItOnceRolledBack() async throws {
            let secretPath = try Self.secretFile()
            defer { try? FileManager.default.removeItem(atPath: secretPath) }
            try await withDemoServers([
                DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2", errorRate: 0.5),
            ]) { servers in
                try await withWeir(
                    routes: Self.route(stable: servers[0].url, canary: servers[1].url, secretFile: secretPath)
                ) { weir in
                    let port = weir.port
                    let started = ContinuousClock.now
                    let rolledBack = AsyncFlag()
                    let done: @Sendable () async -> Bool = {
                        await rolledBack.isSet || ContinuousClock.now - started > .seconds(15)
                    }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await Self.steadyTraffic(port: port, until: done) }
                        // A flood of cheap pinned successes, with the secret, on two connections.
                        for _ in 0..<2 {
                            group.addTask {
                                try await TestHTTPClient.withConnection(port: port) { client in
                                    while await !done() {
                                        _ = try await client.request(
                                            path: "/v2/health/ready",
                                            headers: [("x-weir-version", "v2"), ("x-weir-override-secret", Self.secret)])
                                        try await Task.sleep(for: .milliseconds(2))
                                    }
                                }
                            }
                        }
                        while await !done() {
                            if try await Self.state(weir) == "rolled_back" { await rolledBack.set() }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        group.cancelAll()
                    }
                    let elapsed = ContinuousClock.now - started
                    #expect(await rolledBack.isSet, "the failing canary was not rolled back")
                    // Warm-up, two failed 1 s windows, and a tick: well under 8 s when pins are not evidence.
                    #expect(elapsed < .seconds(8), "rolled back after \(elapsed)")

                    // A pin to the rolled-back canary, even with the secret, is routed by the weights (100 % v1).
                    try await TestHTTPClient.withConnection(port: port) { client in
                        for _ in 0..<30 {
                            let response = try await client.request(
                                path: "/headers",
                                headers: [("x-weir-version", "v2"), ("x-weir-override-secret", Self.secret)])
                            #expect(response.header("x-weir-version") == "v1")
                            #expect(response.header("x-demo-version") == "v1")
                            // Neither the pin nor the secret reaches an upstream.
                            let echoed = String(decoding: response.body, as: UTF8.self)
                            #expect(!echoed.contains("x-weir-version") && !echoed.contains(Self.secret))
                        }
                    }
                }
            }
        }
    }
}

/// A one-way flag tasks can share.
actor AsyncFlag {
    private(set) var isSet = false
    func set() { isSet = true }
}
