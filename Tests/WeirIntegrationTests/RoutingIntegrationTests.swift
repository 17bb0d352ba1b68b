import Foundation
import NIOCore
import NIOHTTP1
import WeirConfig
import WeirProxy
import Testing
import WeirCore
import WeirDemo
import WeirTesting

extension IntegrationTests {
    @Suite struct RoutingIntegrationTests {
        @Test func splitsTenThousandRequestsNinetyTenWithinFourDeviations() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url), ("v2", servers[1].url)], steps: "[10, 50]")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let perConnection = 2_500
                    let counts = try await withThrowingTaskGroup(of: [String: Int].self) { group in
                        for _ in 0..<4 {
                            group.addTask {
                                try await TestHTTPClient.withConnection(port: harness.port) { client in
                                    var counts: [String: Int] = [:]
                                    for _ in 0..<perConnection {
                                        let response = try await client.request(
                                            method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                                        let version = response.header("x-weir-version") ?? "none"
                                        // The version Weir names is the one that answered.
                                        if response.header("x-demo-version") != version {
                                            counts["mismatch", default: 0] += 1
                                        }
                                        counts[version, default: 0] += 1
                                    }
                                    return counts
                                }
                            }
                        }
                        return try await group.reduce(into: [String: Int]()) { $0.merge($1, uniquingKeysWith: +) }
                    }
                    let n = 4 * perConnection
                    #expect(counts["mismatch"] == nil)
                    #expect((counts["v1"] ?? 0) + (counts["v2"] ?? 0) == n)
                    let sd = (Double(n) * 0.1 * 0.9).squareRoot()
                    #expect(
                        abs(Double(counts["v2"] ?? 0) - Double(n) * 0.1) <= 4 * sd,
                        "v2 served \(counts["v2"] ?? 0) of \(n)")

                    await harness.settleMeasurements()
                    let v1 = harness.lifetime(route: "fraud", version: "v1")
                    let v2 = harness.lifetime(route: "fraud", version: "v2")
                    #expect(v1.requests == UInt64(counts["v1"] ?? 0))
                    #expect(v2.requests == UInt64(counts["v2"] ?? 0))
                }
            }
        }

        @Test func aTrustedOverrideSendsRequestsToTheNamedVersionAndIsNotForwarded() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let yaml = routeYAML(
                    versions: [("v1", servers[0].url), ("v2", servers[1].url)], steps: "[1, 50]",
                    extra: "    override: { trusted: [\"127.0.0.1/32\"] }")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    try await TestHTTPClient.withConnection(port: harness.port) { client in
                        for _ in 0..<50 {
                            let pinned = try await client.request(
                                path: "/v2/health/ready", headers: [("x-weir-version", "v2")])
                            #expect(pinned.header("x-demo-version") == "v2")
                            #expect(pinned.header("x-weir-version") == "v2")
                        }
                        // The pin is weir's: the upstream never sees it.
                        let echoed = try await client.request(path: "/headers", headers: [("x-weir-version", "v2")])
                        #expect(echoed.header("x-demo-version") == "v2")
                        #expect(!String(decoding: echoed.body, as: UTF8.self).contains("x-weir-version"))
                        // A name that is not a configured version is ignored: weights decide (1 % canary).
                        var onStable = 0
                        for _ in 0..<50 {
                            let unknown = try await client.request(
                                path: "/v2/health/ready", headers: [("x-weir-version", "v9")])
                            if unknown.header("x-weir-version") == "v1" { onStable += 1 }
                        }
                        #expect(onStable >= 40)
                    }
                    // Pinned requests are measured apart: the canary's judged series has none of the 50.
                    await harness.settleMeasurements()
                    let pinned = harness.proxy.measurements.lifetime(
                        for: SeriesKey(route: "fraud", version: "v2", pinned: true))
                    #expect(pinned.requests == 51)
                    #expect(harness.lifetime(route: "fraud", version: "v2").requests < 10)
                }
            }
        }

        @Test func anUntrustedOverrideIsStrippedAndTheWeightsDecide() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                for extra in ["", "    override: { trusted: [\"10.9.0.0/16\", \"::1/128\"] }"] {
                    let yaml = routeYAML(
                        versions: [("v1", servers[0].url), ("v2", servers[1].url)], steps: "[1, 50]", extra: extra)
                    try await ProxyHarness.run(yaml: yaml) { harness in
                        try await TestHTTPClient.withConnection(port: harness.port) { client in
                            var onCanary = 0
                            for _ in 0..<100 {
                                let response = try await client.request(
                                    path: "/headers", headers: [("x-weir-version", "v2")])
                                if response.header("x-weir-version") == "v2" { onCanary += 1 }
                                #expect(!String(decoding: response.body, as: UTF8.self).contains("x-weir-version"))
                            }
                            // 1 % canary: a believed pin would have sent all 100 there.
                            #expect(onCanary <= 10, "override \(extra.isEmpty ? "off" : "untrusted"): \(onCanary)")
                        }
                        await harness.settleMeasurements()
                        let pinned = harness.proxy.measurements.lifetime(
                            for: SeriesKey(route: "fraud", version: "v2", pinned: true))
                        #expect(pinned.requests == 0)
                    }
                }
            }
        }

        @Test func pinAndSecretHeadersNeverReachAnUpstreamInAHeadOrInTrailers() async throws {
            let upstream = try await RequestLogServer.start()
            let yaml = """
                routes:
                  - name: plain
                    match: { path_prefix: /plain }
                    versions: { v1: { upstreams: ["\(upstream.url)"] } }
                    stable: v1
                  - name: custom
                    match: { path_prefix: /custom }
                    versions: { v1: { upstreams: ["\(upstream.url)"] } }
                    stable: v1
                    override: { header: x-pin, secret_header: x-pin-secret, trusted: ["127.0.0.1/32"] }
                """
            try await ProxyHarness.run(yaml: yaml) { harness in
                let names = ["x-weir-version", "x-weir-override-secret", "x-pin", "x-pin-secret"]
                let fields = names.map { "\($0): v1\r\n" }.joined()
                for path in ["/plain", "/custom"] {
                    let request =
                        "POST \(path) HTTP/1.1\r\nHost: x\r\n\(fields)transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\(fields)\r\n"
                    let reply = try await RawTCPClient.exchange(port: harness.port, send: Array(request.utf8))
                    #expect(reply.text.hasPrefix("HTTP/1.1 200"), "\(path): \(reply.text)")
                }
                let entries = upstream.entries
                #expect(entries.count == 2)
                for entry in entries {
                    #expect(entry.body == Array("hello".utf8))
                    // Weir's default names go nowhere; a route's own names are weir's on that route only.
                    let consumed = entry.uri == "/custom" ? names : Array(names.prefix(2))
                    #expect(entry.uri == "/custom" || entry.header("x-pin") == ["v1"])
                    for name in consumed {
                        #expect(entry.header(name).isEmpty, "\(entry.uri) head carried \(name)")
                        #expect(!entry.trailers.contains { $0.0.lowercased() == name }, "\(entry.uri) trailers carried \(name)")
                    }
                }
            }
            await upstream.stop()
        }

        @Test func aRequestRoutedAtFivePercentThatFinishesAfterTheStepCountsAtFivePercent() async throws {
            let slow = try await RequestLogServer.start(delay: .milliseconds(1500))
            let yaml = routeYAML(versions: [("v1", slow.url), ("v2", slow.url)], steps: "[5, 10]")
            try await ProxyHarness.run(yaml: yaml) { harness in
                async let response = TestHTTPClient.request(port: harness.port, path: "/slow")
                try await Task.sleep(for: .milliseconds(500))
                // The rollout steps to 10 % while the request is in flight.
                await harness.proxy.publish(
                    RoutingTable(
                        routes: harness.config.routes,
                        splits: [TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: 10)], generation: 10))
                #expect(try await response.status == 200)
                await harness.settleMeasurements()
                var weights: [Int: UInt64] = [:]
                let now = Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
                for version in ["v1", "v2"] {
                    for second in (now - 5)...now {
                        for (weight, stats) in harness.proxy.measurements.slices(
                            for: SeriesKey(route: "fraud", version: version), second: second)
                        {
                            weights[weight, default: 0] += stats.requests
                        }
                    }
                }
                #expect(weights == [500: 1], "\(weights)")
            }
            await slow.stop()
        }

        @Test func stickyKeysStayOnTheirVersionAndOnlyMoveOntoTheCanaryAsItGrows() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let yaml = routeYAML(
                    versions: [("v1", servers[0].url), ("v2", servers[1].url)],
                    steps: "[10, 50]",
                    extra: "    sticky: { header: x-user-id }"
                )
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let users = (0..<300).map { "user-\($0)" }
                    func assignment() async throws -> [String: String] {
                        try await TestHTTPClient.withConnection(port: harness.port) { client in
                            var result: [String: String] = [:]
                            for user in users {
                                let first = try await client.request(
                                    path: "/v2/health/ready", headers: [("x-user-id", user)])
                                let again = try await client.request(
                                    path: "/v2/health/ready", headers: [("x-user-id", user)])
                                #expect(first.header("x-weir-version") == again.header("x-weir-version"))
                                result[user] = first.header("x-demo-version")
                            }
                            return result
                        }
                    }
                    let atTen = try await assignment()
                    let canaryAtTen = Set(atTen.filter { $0.value == "v2" }.keys)
                    #expect(
                        canaryAtTen.count > 10 && canaryAtTen.count < 60,
                        "\(canaryAtTen.count) of 300 on the canary at 10 %")

                    let route = harness.config.routes[0]
                    let fifty = RoutingTable(initialFor: [route], generation: 2)
                        .replacingSplit(
                            ofRoute: 0, with: TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: 50),
                            generation: 2)
                    await harness.proxy.publish(fifty)
                    let atFifty = try await assignment()
                    let canaryAtFifty = Set(atFifty.filter { $0.value == "v2" }.keys)
                    #expect(canaryAtTen.isSubset(of: canaryAtFifty), "a user moved off the canary when its weight rose")
                    #expect(canaryAtFifty.count > 110 && canaryAtFifty.count < 190)

                    // A cookie works as the key too.
                    let cookieYAML = routeYAML(
                        versions: [("v1", servers[0].url), ("v2", servers[1].url)],
                        steps: "[50]",
                        extra: "    sticky: { cookie: sid }"
                    )
                    try await ProxyHarness.run(yaml: cookieYAML) { cookieHarness in
                        try await TestHTTPClient.withConnection(port: cookieHarness.port) { client in
                            for user in users.prefix(40) {
                                let expected = StickyBucket.bucket(for: user) < 5_000 ? "v2" : "v1"
                                let response = try await client.request(
                                    path: "/v2/health/ready", headers: [("cookie", "theme=dark; sid=\(user)")])
                                #expect(response.header("x-weir-version") == expected)
                            }
                        }
                    }
                }
            }
        }

        @Test func forwardsHeadersAsAProxyShould() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let response = try await TestHTTPClient.request(
                        port: harness.port,
                        path: "/headers",
                        headers: [
                            ("connection", "keep-alive, x-secret-hop"), ("x-secret-hop", "1"),
                            ("keep-alive", "timeout=5"), ("x-model-input", "kept"),
                        ]
                    )
                    #expect(response.status == 200)
                    let seen = response.text
                    #expect(seen.contains("\"x-forwarded-for\":\"127.0.0.1\""))
                    #expect(seen.contains("\"x-forwarded-proto\":\"http\""))
                    #expect(seen.contains("\"x-forwarded-host\":\"127.0.0.1:\(harness.port)\""))
                    #expect(seen.contains("\"x-model-input\":\"kept\""))
                    #expect(!seen.contains("x-secret-hop"))
                    #expect(!seen.contains("\"keep-alive\""))
                    #expect(response.header("x-weir-route") == "fraud")
                    #expect(response.header("x-weir-version") == "v1")
                }
            }
        }
    }
}
