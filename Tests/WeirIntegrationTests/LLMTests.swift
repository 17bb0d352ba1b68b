import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

/// LLM-aware canaries (CONTRACT §10) end to end: the official `openai` Python client through a real
/// `weir serve` to the demo model's OpenAI-compatible endpoints.
extension IntegrationTests {
    @Suite struct LLMTests {
        static let peer = RepositoryPath.of("scripts/openai_peer.py")

        static func demo(_ version: String, ttft: Int = 200, tpot: Int = 20, tokens: Int = 16, lengthRate: Double = 0)
            -> DemoModelBehavior
        {
            var behavior = DemoModelBehavior(version: version)
            behavior.ttftMillis = ttft
            behavior.tpotMillis = tpot
            behavior.outputTokens = tokens
            behavior.lengthRate = lengthRate
            return behavior
        }

        /// One `llm: openai` route, `chat`, in front of the given servers (a canary when two).
        static func route(_ urls: [String], policy: String = "      interval: 10m\n      warmup: 0s") -> String {
            """
            routes:
              - name: chat
                match: { path_prefix: /v1/ }
                llm: openai
                timeout: 60s
                versions:
                  stable: { upstreams: ["\(urls[0])"] }
            \(urls.count > 1 ? "      canary: { upstreams: [\"\(urls[1])\"] }" : "")
                stable: stable
            \(urls.count > 1 ? "    canary: canary" : "")
                policy:
            \(policy)
            """
        }

        static func peer(_ arguments: [String]) throws -> [String: Any] {
            let run = try ChildProcess.run(command: ["python3", peer] + arguments)
            #expect(run.status == 0, "\(run.stderr)")
            let line = run.stdout.split(separator: "\n").last.map(String.init) ?? ""
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(run.stdout)")
        }

        /// Waits (while `load` runs) for the `chat` rollout to be rolled back; stops the load and
        /// returns the rollback's reason and how long it took (an empty reason when it never came).
        static func rollback(of weir: WeirProcess, underLoad load: ChildProcess, within limit: Duration) async throws
            -> (reason: String, took: Duration)
        {
            let started = ContinuousClock.now
            var state = "progressing"
            while state != "rolled_back" && ContinuousClock.now - started < limit {
                try await Task.sleep(for: .milliseconds(500))
                state = try await weir.admin("GET", "/v1/routes/chat").json["state"] as? String ?? "?"
            }
            let took = ContinuousClock.now - started
            load.signal(SIGKILL)
            _ = await load.waitForExit(limit: .seconds(5))
            #expect(state == "rolled_back")
            let route = try await weir.admin("GET", "/v1/routes/chat").json
            return ((route["last_event"] as? [String: Any])?["reason"] as? String ?? "", took)
        }

        static func llm(_ weir: WeirProcess, version: String) async throws -> [String: Any] {
            let route = try await weir.admin("GET", "/v1/routes/chat").json
            let versions = try #require(route["versions"] as? [String: [String: Any]])
            return try #require(versions[version]?["llm"] as? [String: Any], "\(route)")
        }

        @Test func weirMeasuresTheTimeToFirstTokenAndPerTokenTheDemoWasToldAndTheClientSees() async throws {
            try await withDemoServers([Self.demo("v1", ttft: 200, tpot: 20, tokens: 16)]) { servers in
                try await withWeir(routes: Self.route([servers[0].url])) { weir in
                    let base = "http://127.0.0.1:\(weir.port)/v1"
                    let streamed = try Self.peer(["measure", base, "8", "--stream"])
                    let unstreamed = try Self.peer(["measure", base, "4", "--max-tokens", "5"])
                    #expect(streamed["ok"] as? Int == 8 && unstreamed["ok"] as? Int == 4)
                    // The client's own view through weir.
                    let clientTTFT = try #require(streamed["ttft"] as? Double)
                    #expect(abs(clientTTFT - 0.200) < 0.020, "client TTFT \(clientTTFT)")
                    try await Task.sleep(for: .milliseconds(1500))

                    let llm = try await Self.llm(weir, version: "stable")
                    let ttft = try #require((llm["ttft_ms"] as? [String: Any])?["p50"] as? Double)
                    let tpot = try #require((llm["tpot_ms"] as? [String: Any])?["p50"] as? Double)
                    #expect(abs(ttft - 200) <= 20, "TTFT p50 \(ttft) ms, told 200")
                    #expect(abs(tpot - 20) <= 2, "TPOT p50 \(tpot) ms, told 20")
                    #expect(abs(ttft - clientTTFT * 1000) <= 10, "weir \(ttft) ms vs client \(clientTTFT * 1000) ms")
                    #expect(llm["responses"] as? Int == 12)
                    // 8 streamed answers of 16 tokens (from usage), 4 unstreamed capped at 5 by max_tokens.
                    #expect(llm["output_tokens"] as? Int == 8 * 16 + 4 * 5)
                    #expect((llm["input_tokens"] as? Int ?? 0) > 0)
                    #expect(llm["finish_reasons"] as? [String: Int] == ["stop": 8, "length": 4])
                    #expect(llm["stream_errors"] as? Int == 0)

                    let text = try await TestHTTPClient.request(port: weir.adminPort, method: .GET, path: "/metrics")
                    let body = String(decoding: text.body, as: UTF8.self)
                    #expect(body.contains(#"weir_llm_tokens_total{route="chat",version="stable",direction="output"} 148"#))
                    #expect(body.contains(#"weir_llm_finish_total{route="chat",version="stable",reason="length"} 4"#))
                    #expect(body.contains(#"weir_llm_ttft_seconds_count{route="chat",version="stable"} 8"#))

                    let page = try ChildProcess.run(command: [
                        "python3", RepositoryPath.of("scripts/dashboard_shadow_check.py"), weir.adminURL, "chat", "llm",
                    ])
                    #expect(page.status == 0, "\(page.stdout) \(page.stderr)")
                    let status = try weir.weirctl(["status", "chat"])
                    #expect(status.stdout.contains("TTFT50") && status.stdout.contains("length=4"), "\(status.stdout)")
                }
            }
        }

        @Test func aStreamCutMidwayIsCountedAsAStreamError() async throws {
            try await withDemoServers([Self.demo("v1", ttft: 20, tpot: 5, tokens: 10)]) { servers in
                try await withWeir(routes: Self.route([servers[0].url])) { weir in
                    let base = "http://127.0.0.1:\(weir.port)/v1"
                    let cut = try Self.peer(["measure", base, "3", "--stream", "--die-after", "4"])
                    #expect((cut["errors"] as? [String])?.count == 3, "the client saw each cut: \(cut)")
                    _ = try Self.peer(["measure", base, "2", "--stream"])
                    try await Task.sleep(for: .milliseconds(1500))
                    let llm = try await Self.llm(weir, version: "stable")
                    #expect(llm["stream_errors"] as? Int == 3)
                    #expect((llm["finish_reasons"] as? [String: Int])?["none"] == 3)
                    let route = try await weir.admin("GET", "/v1/routes/chat").json
                    let stable = (route["versions"] as? [String: [String: Any]])?["stable"]
                    #expect(stable?["errors"] as? Int == 3, "cut streams count against the version: \(String(describing: stable))")
                    // A 429 or 500 sent as an SSE error event keeps its status kind: not a stream error.
                    for code in [429, 500] {
                        let refused = try await TestHTTPClient.request(
                            port: weir.port, method: .POST, path: "/v1/chat/completions?status=\(code)",
                            body: Array("{}".utf8))
                        #expect(refused.status == code)
                    }
                    try await Task.sleep(for: .milliseconds(1500))
                    let text = try await TestHTTPClient.request(port: weir.adminPort, method: .GET, path: "/metrics")
                    let metrics = String(decoding: text.body, as: UTF8.self)
                    #expect(metrics.contains(#"weir_requests_total{route="chat",version="stable",code="stream"} 3"#))
                    #expect(metrics.contains(#"weir_requests_total{route="chat",version="stable",code="429"} 1"#))
                    #expect(metrics.contains(#"weir_requests_total{route="chat",version="stable",code="5xx"} 1"#))
                }
            }
        }

        @Test func theClientReceivesTheSameBytesInTheSameChunksWithAndWithoutWeir() async throws {
            try await withDemoServers([Self.demo("v1", ttft: 20, tpot: 5, tokens: 24)]) { servers in
                try await withWeir(routes: Self.route([servers[0].url])) { weir in
                    let body = #"{"model":"demo","stream":true,"seed":42,"stream_options":{"include_usage":true},"messages":[]}"#
                    let direct = try Self.peer(["raw", "127.0.0.1", "\(servers[0].port)", "/v1/chat/completions", body])
                    let proxied = try Self.peer(["raw", "127.0.0.1", "\(weir.port)", "/v1/chat/completions", body])
                    let directChunks = try #require(direct["chunks"] as? [String])
                    #expect(directChunks.count == 28, "role + 24 tokens + finish + usage + [DONE]")
                    #expect(proxied["chunks"] as? [String] == directChunks)
                    #expect(proxied["framing"] as? String == "chunked" && proxied["content_type"] as? String == "text/event-stream")
                }
            }
        }

        @Test func aCanaryThatHitsTheLengthLimitThreeTimesAsOftenIsRolledBackByItsCheck() async throws {
            try await withDemoServers([
                Self.demo("v1", ttft: 5, tpot: 1, tokens: 4, lengthRate: 0.1),
                Self.demo("v2", ttft: 5, tpot: 1, tokens: 4, lengthRate: 0.3),
            ]) { servers in
                let policy = """
                          steps: [50]
                          promote: manual
                          interval: 3s
                          warmup: 200ms
                          min_requests: 50
                          failure_limit: 2
                          checks:
                            - { metric: finish_length_rate, max_ratio: 1.5 }
                    """
                try await withWeir(routes: Self.route(servers.map(\.url), policy: policy)) { weir in
                    let load = try ChildProcess(command: [
                        "python3", Self.peer, "load", "http://127.0.0.1:\(weir.port)/v1", "40", "60", "--concurrency", "8",
                    ])
                    // Promotion is manual, so a window that passes by chance holds the canary at 50 %,
                    // still judged; only a rollback ends the wait.
                    let (reason, took) = try await Self.rollback(of: weir, underLoad: load, within: .seconds(40))
                    #expect(reason.contains("finish_length_rate"), "\(reason)")
                    print("LLM length-limit canary rolled back after \(took): \(reason)")
                }
            }
        }

        @Test func aCanaryWithTwiceTheTimeToFirstTokenIsRolledBackByTheSequentialJudge() async throws {
            try await withDemoServers([
                Self.demo("v1", ttft: 150, tpot: 10, tokens: 8), Self.demo("v2", ttft: 300, tpot: 10, tokens: 8),
            ]) { servers in
                let policy = """
                          steps: [10, 50]
                          interval: 60s
                          warmup: 1s
                          min_requests: 20
                          checks: []
                          judge: sequential
                          sequential: { latency: "off", max_step_time: 60s, min_bake_time: 60s }
                    """
                try await withWeir(routes: Self.route(servers.map(\.url), policy: policy)) { weir in
                    let load = try ChildProcess(command: [
                        "python3", Self.peer, "load", "http://127.0.0.1:\(weir.port)/v1", "60", "20", "--stream",
                        "--concurrency", "16",
                    ])
                    let (reason, took) = try await Self.rollback(of: weir, underLoad: load, within: .seconds(60))
                    #expect(reason.contains("slow first tokens"), "\(reason)")
                    print("LLM TTFT 2x canary at 10 % and 20 req/s rolled back after \(took): \(reason)")
                }
            }
        }
    }
}
