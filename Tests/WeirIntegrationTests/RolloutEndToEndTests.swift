import Foundation
import NIOHTTP1
import NIOPosix
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// The real `weir` binary in front of two demo model servers, with one-second analysis windows.
    @Suite struct RolloutEndToEndTests {
        /// What a load generator saw: each response's version and when it arrived.
        struct Observation: Sendable {
            var at: Duration
            var version: String
        }

        func config(port: Int, stable: String, canary: String, judge: String = "") -> String {
            """
            server: { listen: "127.0.0.1:\(port)" }
            admin: { listen: "127.0.0.1:0" }
            \(fastRolloutRoute(stable: stable, canary: canary, pathPrefix: "/v2/models/fraud"))
            \(judge)
            """
        }

        /// Starts weir on `yaml`, sends requests on 4 connections for `duration`, returns what was seen.
        func observe(canaryErrorRate: Double, duration: Duration, judge: String = "") async throws -> [Observation] {
            try await withDemoServers([
                DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2", errorRate: canaryErrorRate),
            ]) { servers in
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "weir-e2e-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let port = try await FreePort.find()
                let file = directory.appendingPathComponent("weir.yaml")
                try config(port: port, stable: servers[0].url, canary: servers[1].url, judge: judge).write(
                    to: file, atomically: true, encoding: .utf8)
                let weir = try ChildProcess(
                    product: "weir", arguments: ["serve", "-c", file.path], currentDirectory: directory)
                try await waitUntilListening(port: port)
                let start = ContinuousClock.now
                let observations = try await withThrowingTaskGroup(of: [Observation].self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            try await TestHTTPClient.withConnection(port: port) { client in
                                var seen: [Observation] = []
                                while ContinuousClock.now - start < duration {
                                    let response = try await client.request(
                                        method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                                    seen.append(
                                        Observation(
                                            at: ContinuousClock.now - start,
                                            version: response.header("x-weir-version") ?? "?"))
                                }
                                return seen
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }.sorted { $0.at < $1.at }
                }
                weir.signal(SIGTERM)
                _ = await weir.waitForExit(limit: .seconds(10))
                return observations
            }
        }

        @Test func failingCanaryIsRolledBackWithinFailureLimitPlusOneIntervals() async throws {
            let seen = try await observe(canaryErrorRate: 0.3, duration: .seconds(6))
            let canary = seen.filter { $0.version == "v2" }
            #expect(canary.count > 20, "the canary must have served traffic before its rollback")
            let lastCanary = try #require(canary.last)
            print("failing canary: last canary response \(lastCanary.at) after load began")
            // (failure_limit + 1) × interval + 1 s
            #expect(lastCanary.at <= .seconds(4), "canary still served at \(lastCanary.at)")
            let after = seen.filter { $0.at > lastCanary.at }
            #expect(after.count > 200)
            #expect(after.allSatisfy { $0.version == "v1" })
        }

        @Test func theSequentialJudgeRollsAFailingCanaryBackWithinSeconds() async throws {
            let judge = "      judge: sequential\n      sequential: { latency: off }"
            let seen = try await observe(canaryErrorRate: 0.3, duration: .seconds(5), judge: judge)
            let lastCanary = try #require(seen.last { $0.version == "v2" })
            print("sequential judge: last canary response \(lastCanary.at) after load began")
            #expect(lastCanary.at <= .seconds(3), "canary still served at \(lastCanary.at)")
            let after = seen.filter { $0.at > lastCanary.at }
            #expect(after.count > 200 && after.allSatisfy { $0.version == "v1" })
        }

        @Test func healthyCanaryIsPromotedAndTakesAllTraffic() async throws {
            let seen = try await observe(canaryErrorRate: 0, duration: .seconds(7))
            let lastStable = try #require(seen.last { $0.version == "v1" })
            print("healthy canary: last stable response \(lastStable.at) after load began")
            // Two steps of one-second windows, each after a 200 ms warm-up rounded up to whole
            // measurement seconds (up to 2 s a step), then promotion.
            #expect(lastStable.at <= .seconds(5), "stable still served at \(lastStable.at)")
            let after = seen.filter { $0.at > lastStable.at }
            #expect(after.count > 200)
            #expect(after.allSatisfy { $0.version == "v2" })
        }

    }
}
