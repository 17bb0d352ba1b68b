import Foundation
import NIOHTTP1
import WeirConfig
import WeirProxy
import Testing
import WeirCore
import WeirDemo
import WeirTesting

extension IntegrationTests {
    @Suite struct FaultIntegrationTests {
        @Test func unmatchedRequestGets404JSON() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil, pathPrefix: "/v2/models/fraud")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    try await TestHTTPClient.withConnection(port: harness.port) { client in
                        let missing = try await client.request(path: "/v2/models/other/infer")
                        #expect(missing.status == 404)
                        #expect(missing.header("content-type") == "application/json")
                        #expect(missing.text.contains("\"error\":\"no_route\""))
                        // The connection stays usable.
                        let found = try await client.request(path: "/v2/models/fraud")
                        #expect(found.status == 200)
                    }
                }
            }
        }

        @Test func unreachableUpstreamGets502AndCountsAsConnectError() async throws {
            let deadPort = try await FreePort.find()
            let yaml = routeYAML(versions: [("v1", "http://127.0.0.1:\(deadPort)")], canary: nil)
            try await ProxyHarness.run(yaml: yaml) { harness in
                let response = try await TestHTTPClient.request(
                    port: harness.port, method: .POST, path: "/v2/models/fraud/infer", body: Array("{}".utf8))
                #expect(response.status == 502)
                #expect(response.text.contains("\"route\":\"fraud\""))
                #expect(response.text.contains("\"version\":\"v1\""))
                #expect(response.header("x-weir-version") == "v1")
                await harness.settleMeasurements()
                let stats = harness.lifetime(route: "fraud", version: "v1")
                #expect(stats.requests == 1)
                #expect(stats.errorsByKind[ErrorKind.connect.index] == 1)
            }
        }

        @Test func slowUpstreamGets504AndCountsAsTimeout() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil, timeout: "300ms")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    try await TestHTTPClient.withConnection(port: harness.port) { client in
                        let response = try await client.request(path: "/sleep/3000")
                        #expect(response.status == 504)
                        #expect(response.text.contains("\"error\":\"upstream_timeout\""))
                        #expect(response.text.contains("\"version\":\"v1\""))
                        let fast = try await client.request(path: "/sleep/1")
                        #expect(fast.status == 200)
                    }
                    await harness.settleMeasurements()
                    let stats = harness.lifetime(route: "fraud", version: "v1")
                    #expect(stats.requests == 2)
                    #expect(stats.errorsByKind[ErrorKind.timeout.index] == 1)
                }
            }
        }

        @Test func malformedRequestGets400AndItsConnectionCloses() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    for garbage in [
                        "NOT HTTP AT ALL\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nBroken Header Line\r\n\r\n",
                        "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
                    ] {
                        let reply = try await RawTCPClient.exchange(port: harness.port, send: Array(garbage.utf8))
                        #expect(
                            reply.text.hasPrefix("HTTP/1.1 400"),
                            "\(garbage.debugDescription) -> \(reply.text.prefix(40))")
                        #expect(reply.closedByPeer)
                    }
                    let healthy = try await TestHTTPClient.request(port: harness.port, path: "/v2/health/ready")
                    #expect(healthy.status == 200)
                }
            }
        }

        @Test func upstreamDyingMidResponseCutsTheResponseAndCountsAReset() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let cut = try await TestHTTPClient.request(port: harness.port, path: "/die/1000")
                    #expect(cut.status == 200)
                    #expect(!cut.complete)
                    #expect(cut.body.count < 1000 * 10 + 1000)
                    let next = try await TestHTTPClient.request(port: harness.port, path: "/v2/health/ready")
                    #expect(next.status == 200)
                    await harness.settleMeasurements()
                    let stats = harness.lifetime(route: "fraud", version: "v1")
                    #expect(stats.requests == 2)
                    #expect(stats.errorsByKind[ErrorKind.reset.index] == 1)
                }
            }
        }

        @Test func serverSentEventsArriveChunkByChunk() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1", streamChunks: 5, streamIntervalMillis: 200)]) {
                servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let response = try await TestHTTPClient.request(
                        port: harness.port, method: .POST, path: "/v2/models/fraud/generate_stream",
                        body: Array("{}".utf8)
                    )
                    #expect(response.status == 200)
                    #expect(response.header("content-type") == "text/event-stream")
                    #expect(response.text.components(separatedBy: "data: ").count - 1 == 5)
                    // The upstream spaces its 5 events 200 ms apart; a proxy that buffered the stream would
                    // deliver them together. Only the spread is asserted, not absolute times.
                    let first = try #require(response.partArrivals.first)
                    let last = try #require(response.partArrivals.last)
                    #expect(response.partArrivals.count >= 5)
                    #expect(last - first >= .milliseconds(600), "events arrived together: \(response.partArrivals)")
                }
            }
        }

        @Test func aDeadUpstreamIsRetriedAroundEjectedAndLetBackIn() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let revivedPort = try await FreePort.find()
                let yaml = """
                    routes:
                      - name: fraud
                        match: { path_prefix: / }
                        ejection: { failures: 2, base: 3s }
                        versions:
                          v1: { upstreams: ["http://127.0.0.1:\(revivedPort)", "\(servers[0].url)"] }
                        stable: v1
                    """
                try await ProxyHarness.run(yaml: yaml) { harness in
                    try await TestHTTPClient.withConnection(port: harness.port) { client in
                        // The dead upstream refuses: each request is retried on the live one.
                        for _ in 0..<10 {
                            let response = try await client.request(path: "/v2/health/ready")
                            #expect(response.status == 200)
                        }
                        // It comes back, but stays ejected for 3 s on this connection's loop.
                        let revived = try await DemoModelServer.start(
                            behavior: DemoModelBehavior(version: "revived"), port: revivedPort)
                        var servedByRevived = 0
                        for _ in 0..<20
                        where try await client.request(path: "/v2/health/ready").header("x-demo-version") == "revived" {
                            servedByRevived += 1
                        }
                        #expect(servedByRevived == 0)
                        try await Task.sleep(for: .milliseconds(3_300))
                        servedByRevived = 0
                        for _ in 0..<20
                        where try await client.request(path: "/v2/health/ready").header("x-demo-version") == "revived" {
                            servedByRevived += 1
                        }
                        #expect(
                            servedByRevived >= 5, "the revived upstream got \(servedByRevived) of 20 after its ejection"
                        )
                        await revived.stop()
                    }
                    await harness.settleMeasurements()
                    // Retried connect failures never reached the client: no errors counted.
                    let stats = harness.lifetime(route: "fraud", version: "v1")
                    #expect(stats.requests == 50)
                    #expect(stats.errorsByKind.reduce(0, +) == 0)
                }
            }
        }

        @Test func anUpstreamResetMidBodyOrDyingMidStreamFailsOnlyThatRequest() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1", streamChunks: 10, streamIntervalMillis: 50)]) {
                servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    async let others = TestHTTPClient.withConnection(port: harness.port) { client in
                        var statuses: [Int] = []
                        for _ in 0..<50 { statuses.append(try await client.request(path: "/v2/health/ready").status) }
                        return statuses
                    }
                    let reset = try await TestHTTPClient.request(port: harness.port, path: "/reset/2000")
                    #expect(reset.status == 200 && !reset.complete)
                    let stream = try await TestHTTPClient.request(
                        port: harness.port, method: .POST, path: "/v2/models/fraud/generate_stream?die_after=3",
                        body: Array("{}".utf8))
                    #expect(stream.status == 200 && !stream.complete)
                    #expect(stream.text.components(separatedBy: "data: ").count - 1 == 3)
                    #expect(try await others.allSatisfy { $0 == 200 })
                    await harness.settleMeasurements()
                    let stats = harness.lifetime(route: "fraud", version: "v1")
                    #expect(stats.requests == 52)
                    // The body cut mid-way is a reset; the generate_stream cut mid-way is an LLM stream
                    // (KServe `text_output` events), so it is a stream error.
                    #expect(stats.errorsByKind[ErrorKind.reset.index] == 1)
                    #expect(stats.errorsByKind[ErrorKind.stream.index] == 1)
                }
            }
        }
    }
}
