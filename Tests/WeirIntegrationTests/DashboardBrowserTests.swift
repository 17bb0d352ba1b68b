import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// The dashboard in a real Chromium (through chromedriver and Python's selenium): the real
    /// `weir` binary in front of demo model servers, three routes, live load. The checks live in
    /// `scripts/dashboard_browser.py`; its screenshots are kept in `.build/test-artifacts/dashboard`
    /// (or `$WEIR_TEST_ARTIFACTS/dashboard`).
    @Suite struct DashboardBrowserTests {
        static let token = "dashboard-test-token-7c1f"

        static var artifacts: String {
            if let folder = ProcessInfo.processInfo.environment["WEIR_TEST_ARTIFACTS"] {
                return folder + "/dashboard"
            }
            return RepositoryPath.of(".build/test-artifacts/dashboard")
        }

        func routes(healthy: String, failing: String) -> String {
            """
            routes:
              - name: fraud
                match: { path_prefix: /v2/models/fraud }
                versions:
                  v1: { upstreams: ["\(healthy)"], metadata: { owner: risk-team, training_data_hash: 9f2c1e } }
                  v2: { upstreams: ["\(failing)"], metadata: { owner: risk-team, training_data_hash: a71b03 } }
                stable: v1
                canary: v2
                policy:
                  steps: [20, 50]
                  interval: 1s
                  warmup: 200ms
                  min_requests: 10
                  failure_limit: 2
                  judge: sequential
                  sequential: { alpha: 0.01, latency: off }
              - name: ranker
                match: { path_prefix: /v2/models/ranker }
                versions:
                  v1: { upstreams: ["\(healthy)"] }
                  v2: { upstreams: ["\(healthy)"] }
                stable: v1
                canary: v2
                policy:
                  steps: [10, 50]
                  interval: 10m
                  min_requests: 10
                  checks:
                    - { metric: error_rate, max_increase: 0.05 }
              - name: search
                match: { path_prefix: /v2/models/search }
                versions:
                  v1: { upstreams: ["\(healthy)"] }
                stable: v1
            """
        }

        @Test func anOnCallEngineerWatchesARollbackAndRollsBackAnotherCanary() async throws {
            try await withDemoServers([
                DemoModelBehavior(version: "v1", latencyMillis: 2, jitterMillis: 3),
                DemoModelBehavior(version: "v2", errorRate: 0.5, latencyMillis: 4, jitterMillis: 3),
            ]) { servers in
                try await withWeir(routes: routes(healthy: servers[0].url, failing: servers[1].url), token: Self.token) {
                    weir in
                    let result = try ChildProcess.run(command: [
                        "python3", RepositoryPath.of("scripts/dashboard_browser.py"), weir.adminURL, String(weir.port),
                        Self.token, Self.artifacts, "fraud", "ranker", "search",
                    ])
                    print(result.stdout)
                    #expect(result.status == 0, "\(result.stderr)")
                    for name in ["1-routes", "2-rolled-back", "3-refused-without-token", "4-rolled-back-by-operator"] {
                        let size = try FileManager.default.attributesOfItem(atPath: "\(Self.artifacts)/\(name).png")[.size]
                        #expect((size as? Int ?? 0) > 10_000, "screenshot \(name) is missing or empty")
                    }
                }
            }
        }

        /// The page and its files are served without a token (they hold no data) with headers that
        /// forbid framing and foreign scripts; the data behind them still needs the token.
        @Test func thePageIsServedLockedDownAndItsDataStaysBehindTheToken() async throws {
            try await withWeir(
                routes: routeYAML(versions: [("v1", "http://127.0.0.1:9")], canary: nil), token: Self.token,
                admin: "read_token_file: admin.token"
            ) { weir in
                for path in ["/", "/ui/dashboard.js", "/ui/dashboard.css"] {
                    let response = try await TestHTTPClient.request(port: weir.adminPort, method: .GET, path: path)
                    #expect(response.status == 200, "\(path)")
                    #expect(response.header("content-security-policy")?.contains("frame-ancestors 'none'") == true)
                    #expect(response.header("content-security-policy")?.contains("script-src 'self'") == true)
                    #expect(response.header("x-frame-options") == "DENY")
                    #expect(response.header("x-content-type-options") == "nosniff")
                }
                // Only the dashboard's own files go without a token: no other spelling reaches data.
                for path in [
                    "/ui/../v1/routes", "/ui/%2e%2e/v1/routes", "/ui//../v1/routes/fraud", "/ui/nope.js",
                    "/ui/dashboard.js/../../v1/routes", "//v1/routes", "/ui/..%2fv1%2froutes", "/v1/routes/fraud/series",
                ] {
                    let response = try await TestHTTPClient.request(port: weir.adminPort, method: .GET, path: path)
                    #expect(response.status == 401 || response.status == 400 || response.status == 404, "\(path)")
                    #expect(!String(decoding: response.body, as: UTF8.self).contains("\"state\""), "\(path)")
                }
                // A link from another site opens the page; data and changes stay same-origin.
                let linked = try await weir.admin("GET", "/", headers: [("sec-fetch-site", "cross-site")])
                #expect(linked.status == 200)
                let crossRead = try await weir.admin(
                    "GET", "/v1/routes", token: Self.token, headers: [("sec-fetch-site", "cross-site")])
                #expect(crossRead.status == 403)
                // Refusals and unknown paths are locked down too.
                for path in ["/nope", "/ui/nope", "/v1/routes"] {
                    let response = try await TestHTTPClient.request(port: weir.adminPort, method: .GET, path: path)
                    #expect(response.header("x-frame-options") == "DENY", "\(path)")
                    #expect(response.header("content-security-policy")?.contains("default-src 'none'") == true, "\(path)")
                }
                #expect(try await weir.admin("GET", "/v1/routes/fraud/series").status == 401)
                let series = try await weir.admin("GET", "/v1/routes/fraud/series", token: Self.token)
                #expect(series.status == 200)
                #expect(series.json["route"] as? String == "fraud")
                #expect(try await weir.admin("GET", "/v1/routes/fraud/series?since=-4", token: Self.token).status == 400)
                #expect(try await weir.admin("GET", "/v1/routes/nope/series", token: Self.token).status == 404)
            }
        }

        /// The charts' numbers: every request counted once, in the second it ended, and a later
        /// read from `through` brings only what came after.
        @Test func theSeriesCountsEveryRequestOnceAndContinuesFromThrough() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                try await withWeir(routes: routeYAML(versions: [("v1", servers[0].url)], canary: nil)) { weir in
                    func sent(_ count: Int) async throws {
                        try await TestHTTPClient.withConnection(port: weir.port) { client in
                            for _ in 0..<count {
                                let response = try await client.request(method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                                #expect(response.status == 200)
                            }
                        }
                    }
                    func series(_ query: String = "") async throws -> (requests: Int, through: Int?, seconds: [Int]) {
                        let answer = try await weir.admin("GET", "/v1/routes/fraud/series" + query)
                        let points = answer.json["points"] as? [[String: Any]] ?? []
                        let requests = points.reduce(0) {
                            $0 + ((($1["versions"] as? [String: Any])?["v1"] as? [String: Any])?["requests"] as? Int ?? 0)
                        }
                        return (requests, answer.json["through"] as? Int, points.compactMap { $0["second"] as? Int })
                    }
                    try await sent(37)
                    try await Task.sleep(for: .milliseconds(2_300))
                    let first = try await series()
                    #expect(first.requests == 37)
                    #expect(first.seconds == first.seconds.sorted() && Set(first.seconds).count == first.seconds.count)
                    let through = try #require(first.through)
                    #expect(abs(Double(through) - Date().timeIntervalSince1970) < 5)
                    try await sent(11)
                    try await Task.sleep(for: .milliseconds(2_300))
                    let next = try await series("?since=\(through)")
                    #expect(next.requests == 11)
                    #expect(next.seconds.allSatisfy { $0 > through })
                    #expect(try await series().requests == 48)
                }
            }
        }

        /// An operator's reason reaches the audit log, the logs and every screen: one line of
        /// printable text of bounded length, or the call is refused and nothing moves.
        @Test func aReasonIsOneLineOfPrintableText() async throws {
            try await withWeir(
                routes: routeYAML(versions: [("v1", "http://127.0.0.1:9"), ("v2", "http://127.0.0.1:9")]),
                token: Self.token
            ) { weir in
                for reason in [
                    "ok\n2026-11-27T00:00:00Z notice weir: rollout -> promoted", "ok\u{1b}[2J", "tab\there",
                    String(repeating: "x", count: 501),
                ] {
                    let body = String(decoding: try JSONEncoder().encode(["reason": reason]), as: UTF8.self)
                    let refused = try await weir.admin(
                        "POST", "/v1/routes/fraud/rollback", body: body, token: Self.token)
                    #expect(refused.status == 400, "\(reason.prefix(20))")
                    #expect(refused.json["error"] as? String == "bad_request")
                }
                #expect(try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String == "progressing")
                let done = try await weir.admin(
                    "POST", "/v1/routes/fraud/rollback", body: #"{"reason":"bad outputs on slice A — ünïcode ok"}"#,
                    token: Self.token)
                #expect(done.status == 200)
                #expect(try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String == "rolled_back")
            }
        }
    }
}
