import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// `/metrics` read by a real Prometheus text parser (Python's prometheus_client).
    @Suite struct MetricsTests {
        @Test func everyContractSeriesIsExposedWithItsLabels() async throws {
            try await withDemoServers([
                DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2", errorRate: 0.5),
            ]) { servers in
                try await withWeir(routes: AdminAPITests.routes(servers[0].url, servers[1].url), token: "tok") { weir in
                    try await TestHTTPClient.withConnection(port: weir.port) { client in
                        for _ in 0..<200 {
                            _ = try await client.request(
                                method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                        }
                    }
                    #expect(try await weir.admin("POST", "/v1/routes/fraud/pause", token: "tok").status == 200)
                    try await Task.sleep(for: .milliseconds(2_200))
                    let response = try await TestHTTPClient.request(port: weir.adminPort, path: "/metrics")
                    #expect(response.status == 200)
                    #expect(response.header("content-type")?.hasPrefix("text/plain") == true)
                    let families = try Self.parse(response.text)
                    func labelSets(_ sample: String) -> [[String: String]] { families[sample] ?? [] }

                    let requests = labelSets("weir_requests_total")
                    #expect(requests.contains { $0 == ["route": "fraud", "version": "v1", "code": "2xx"] })
                    #expect(requests.contains { $0 == ["route": "fraud", "version": "v2", "code": "5xx"] })
                    #expect(
                        labelSets("weir_upstream_errors_total").contains {
                            $0 == ["route": "fraud", "version": "v2", "kind": "5xx"]
                        })
                    let buckets = labelSets("weir_request_duration_seconds_bucket")
                    #expect(buckets.contains { $0["route"] == "fraud" && $0["version"] == "v1" && $0["le"] == "0.001" })
                    #expect(buckets.contains { $0["le"] == "10.0" || $0["le"] == "10" })
                    #expect(!labelSets("weir_request_duration_seconds_count").isEmpty)
                    #expect(labelSets("weir_canary_weight").contains { $0 == ["route": "fraud", "version": "v2"] })
                    let states = labelSets("weir_rollout_state")
                    #expect(states.contains { $0 == ["route": "fraud", "state": "paused"] })
                    #expect(states.count == 5)
                    #expect(
                        labelSets("weir_rollout_transitions_total").contains {
                            $0 == ["route": "fraud", "to": "paused"]
                        })
                    let webhooks = labelSets("weir_webhook_deliveries_total")
                    #expect(Set(webhooks.compactMap { $0["result"] }) == ["delivered", "failed", "abandoned", "tls_refused"])
                    // Label values come from the config only: no paths, no user keys.
                    #expect(!response.text.contains("/v2/models"))
                    // The values agree with the traffic: 200 requests in all.
                    #expect(
                        Self.value(response.text, #"weir_request_duration_seconds_count{route="fraud",version="v1"}"#)
                            + Self.value(
                                response.text, #"weir_request_duration_seconds_count{route="fraud",version="v2"}"#)
                            == 200)
                    #expect(Self.value(response.text, #"weir_rollout_state{route="fraud",state="paused"}"#) == 1)
                    // Pool gauges: the one keep-alive client connection left pooled connections open and idle.
                    let pools = labelSets("weir_upstream_connections")
                    #expect(pools.contains { $0 == ["upstream": servers[0].url, "state": "open"] })
                    let open = Self.value(
                        response.text, "weir_upstream_connections{upstream=\"\(servers[0].url)\",state=\"open\"}")
                    let idle = Self.value(
                        response.text, "weir_upstream_connections{upstream=\"\(servers[0].url)\",state=\"idle\"}")
                    #expect(open >= 1 && idle >= 1 && idle <= open, "open \(open), idle \(idle)")
                }
            }
        }

        @Test func judgedWindowsAreCountedByResult() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let routes = """
                    routes:
                      - name: fraud
                        match: { path_prefix: / }
                        versions: { v1: { upstreams: ["\(servers[0].url)"] }, v2: { upstreams: ["\(servers[1].url)"] } }
                        stable: v1
                        canary: v2
                        policy: { steps: [20, 50], interval: 1s, warmup: 100ms, min_requests: 5 }
                    """
                try await withWeir(routes: routes) { weir in
                    let start = ContinuousClock.now
                    try await TestHTTPClient.withConnection(port: weir.port) { client in
                        while ContinuousClock.now - start < .seconds(3) {
                            _ = try await client.request(path: "/v2/health/ready")
                        }
                    }
                    let text = try await TestHTTPClient.request(port: weir.adminPort, path: "/metrics").text
                    let results = try Self.parse(text)["weir_analysis_total"] ?? []
                    #expect(results.contains { $0["route"] == "fraud" && $0["result"] == "success" }, "\(results)")
                }
            }
        }

        /// Sample name → the label sets it appears with, as prometheus_client's parser reads them.
        static func parse(_ text: String) throws -> [String: [[String: String]]] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).txt")
            try text.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let script = """
                import json, sys
                from prometheus_client.parser import text_string_to_metric_families
                out = {}
                for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                    for sample in family.samples:
                        out.setdefault(sample.name, []).append(sample.labels)
                print(json.dumps(out))
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, file.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "the Prometheus parser refused the exposition")
            return try JSONDecoder().decode([String: [[String: String]]].self, from: data)
        }

        static func value(_ text: String, _ series: String) -> Double {
            for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
                return Double(line.dropFirst(series.count + 1)) ?? -1
            }
            return 0
        }
    }
}
