import Foundation
import NIOHTTP1
import Testing
import WeirCore
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// gRPC inference through the real `weir` binary, with Python's grpcio as both the model
    /// servers (h2c and TLS upstreams) and the client.
    @Suite struct GRPCTests {
        static func withServers<T>(
            _ servers: [GRPCPeer.Server], _ body: ([GRPCPeer.Server]) async throws -> T
        ) async throws -> T {
            try await withRunning(servers, stop: { await $0.stop() }, body)
        }

        @Test func callsAreSplitByWeightWithTrailersAndLargeStreamsIntact() async throws {
            let servers = [try GRPCPeer.Server(name: "v1"), try GRPCPeer.Server(name: "v2")]
            try await Self.withServers(servers) { servers in
                let routes =
                    routeYAML(
                        versions: [
                            ("v1", "h2c://127.0.0.1:\(servers[0].port)"), ("v2", "h2c://127.0.0.1:\(servers[1].port)"),
                        ],
                        steps: "[50]") + "\n      interval: 1h"
                try await withWeir(routes: routes, server: "h2c: true") { weir in
                    let target = "127.0.0.1:\(weir.port)"
                    let calls = 300
                    let report = try GRPCPeer.calls(target: target, count: calls)
                    print("gRPC split over \(calls) calls: \(report.versions)")
                    #expect(report.codes == ["OK": calls])
                    #expect(report.echo_ok == calls)
                    #expect(report.trailers_ok == calls, "trailing metadata lost on some calls")
                    // Binomial(300, 0.5): sd ≈ 8.7; ±4.5 sd.
                    let canary = report.versions["v2", default: 0]
                    #expect(report.versions["v1", default: 0] + canary == calls)
                    #expect((111...189).contains(canary), "v2 got \(canary) of \(calls)")

                    let large = try GRPCPeer.calls(target: target, count: 4, size: 8 * 1024 * 1024)
                    #expect(large.codes == ["OK": 4] && large.echo_ok == 4)

                    let stream = try GRPCPeer.stream(target: target, messages: 24, size: 1024 * 1024)
                    #expect(stream.code == "OK")
                    #expect(stream.received == 24 && stream.bytes == 24 * 1024 * 1024)
                    #expect(stream.bytes_ok)
                }
            }
        }

        @Test func aReloadThatRemovesAnHTTP2UpstreamLetsItsStreamsFinish() async throws {
            let servers = [try GRPCPeer.Server(name: "old"), try GRPCPeer.Server(name: "new")]
            try await Self.withServers(servers) { servers in
                let routes = routeYAML(
                    versions: [("v1", "h2c://127.0.0.1:\(servers[0].port)")], canary: nil, steps: "[50]")
                try await withWeir(routes: routes, server: "h2c: true") { weir in
                    let target = "127.0.0.1:\(weir.port)"
                    // About 3 s of a bidirectional stream through the old upstream…
                    let call = try GRPCPeer.startStream(target: target, messages: 30, size: 64 * 1024, pauseMilliseconds: 100)
                    try await Task.sleep(for: .seconds(1))
                    // …while a reload moves the version to another upstream.
                    let config = try String(contentsOfFile: weir.configPath, encoding: .utf8)
                    try config.replacingOccurrences(of: "\(servers[0].port)", with: "\(servers[1].port)")
                        .write(toFile: weir.configPath, atomically: true, encoding: .utf8)
                    #expect(try await weir.admin("POST", "/v1/reload").status == 200)
                    let stream = try GRPCPeer.finish(call)
                    #expect(stream.code == "OK", "the stream in flight was cut by the reload")
                    #expect(stream.received == 30 && stream.bytes_ok)
                    // New calls no longer need the old upstream.
                    await servers[0].stop()
                    let after = try GRPCPeer.calls(target: target, count: 20)
                    #expect(after.codes == ["OK": 20], "\(after.codes) \(after.details)")
                }
            }
        }

        @Test func tlsClientToAnHTTPSUpstreamNegotiatesH2BothWays() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            let upstream = try GRPCPeer.Server(
                name: "v1", tls: (certificates.serverCertificate, certificates.serverKey))
            try await Self.withServers([upstream]) { servers in
                let routes = routeYAML(
                    versions: [("v1", "https://localhost:\(servers[0].port)")], canary: nil, steps: "[50]",
                    extra: "    upstream_ca: \(certificates.caFile)")
                let tls = "tls: { cert: \(certificates.serverCertificate), key: \(certificates.serverKey) }"
                try await withWeir(routes: routes, server: tls) { weir in
                    let report = try GRPCPeer.calls(
                        target: "localhost:\(weir.port)", count: 50, caFile: certificates.caFile)
                    #expect(report.codes == ["OK": 50], "\(report.details)")
                    #expect(report.trailers_ok == 50 && report.echo_ok == 50)
                    #expect(report.versions == ["v1": 50])
                    let stream = try GRPCPeer.stream(
                        target: "localhost:\(weir.port)", messages: 8, size: 1024 * 1024, caFile: certificates.caFile)
                    #expect(stream.code == "OK" && stream.bytes_ok)
                }
            }
        }

        @Test func anHTTPSUpstreamThatOnlySpeaksHTTP1IsUsedOverHTTP1() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            let upstream = try ChildProcess(command: [
                "python3", GRPCPeer.script.replacingOccurrences(of: "grpc_peer.py", with: "https_peer.py"),
                certificates.serverCertificate, certificates.serverKey,
            ])
            let line = try #require(upstream.readLine())
            let port = try #require(Int(line.dropFirst(5)))
            defer { upstream.signal(SIGTERM) }
            let routes = routeYAML(
                versions: [("v1", "https://localhost:\(port)")], canary: nil, steps: "[50]",
                extra: "    upstream_ca: \(certificates.caFile)")
            try await withWeir(routes: routes) { weir in
                // Concurrent first requests wait for the one handshake, then dial their own connections.
                let weirPort = weir.port
                let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for index in 0..<8 {
                        group.addTask {
                            let response = try await TestHTTPClient.request(port: weirPort, path: "/item/\(index)")
                            return (response.status, response.text)
                        }
                    }
                    var all: [(Int, String)] = []
                    for try await result in group { all.append(result) }
                    return all
                }
                #expect(statuses.count == 8)
                #expect(statuses.allSatisfy { $0.0 == 200 && $0.1.contains("\"via\": \"https-h1\"") }, "\(statuses)")
                let again = try await TestHTTPClient.request(port: weir.port, path: "/again")
                #expect(again.status == 200 && again.text.contains("/again"))
            }
        }

        @Test func anUpstreamThatSendsGoAwayIsRedialledWithoutFailingCalls() async throws {
            let upstream = try GRPCPeer.Server(name: "v1", maxConnectionAgeMilliseconds: 300)
            try await Self.withServers([upstream]) { servers in
                let routes = routeYAML(
                    versions: [("v1", "h2c://127.0.0.1:\(servers[0].port)")], canary: nil, steps: "[50]")
                try await withWeir(routes: routes, server: "h2c: true") { weir in
                    var codes: [String: Int] = [:]
                    for _ in 0..<3 {
                        let report = try GRPCPeer.calls(target: "127.0.0.1:\(weir.port)", count: 100)
                        codes.merge(report.codes, uniquingKeysWith: +)
                        try await Task.sleep(for: .milliseconds(400))
                    }
                    // Each batch outlives the upstream connection's 300 ms age at least once.
                    #expect(codes == ["OK": 300], "\(codes)")
                }
            }
        }

        @Test func aFailingGRPCCanaryIsRolledBack() async throws {
            let servers = [
                try GRPCPeer.Server(name: "v1"), try GRPCPeer.Server(name: "v2", failEvery: 2, failStatus: "INTERNAL"),
            ]
            try await Self.withServers(servers) { servers in
                let routes = fastRolloutRoute(
                    stable: "h2c://127.0.0.1:\(servers[0].port)", canary: "h2c://127.0.0.1:\(servers[1].port)")
                try await withWeir(routes: routes, server: "h2c: true") { weir in
                    let target = "127.0.0.1:\(weir.port)"
                    let started = ContinuousClock.now
                    var state = ""
                    var failedCalls = 0
                    while ContinuousClock.now - started < .seconds(20) {
                        let report = try GRPCPeer.calls(target: target, count: 100)
                        failedCalls += report.codes["INTERNAL", default: 0]
                        state = try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String ?? ""
                        if state == "rolled_back" { break }
                    }
                    print("gRPC canary: \(state) after \(ContinuousClock.now - started), \(failedCalls) failed calls")
                    #expect(state == "rolled_back")
                    #expect(failedCalls > 0, "the canary never served")
                    let events = try await weir.admin("GET", "/v1/routes/fraud/events?limit=1")
                    let reason = (events.json["events"] as? [[String: Any]])?.first?["reason"] as? String ?? ""
                    #expect(reason.contains("error_rate"), "rollback reason: \(reason)")

                    let after = try GRPCPeer.calls(target: target, count: 100)
                    #expect(after.codes == ["OK": 100])
                    #expect(after.versions == ["v1": 100])

                    let metrics = try await TestHTTPClient.request(port: weir.adminPort, method: .GET, path: "/metrics")
                    let families = try MetricsTests.parse(String(decoding: metrics.body, as: UTF8.self))
                    #expect(
                        families["weir_upstream_errors_total", default: []].contains {
                            $0 == ["route": "fraud", "version": "v2", "kind": "grpc"]
                        })
                    #expect(
                        families["weir_requests_total", default: []].contains {
                            $0 == ["route": "fraud", "version": "v2", "code": "grpc"]
                        })
                }
            }
        }

        @Test func grpcStatusDecidesTheErrorKindAndAMissingStatusIsACutStream() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let grpc = [("content-type", "application/grpc"), ("te", "trailers")]
                    for path in ["/grpc-status/0", "/grpc-status/14", "/grpc-status/14", "/grpc-status/none"] {
                        let response = try await TestHTTPClient.request(
                            port: harness.port, method: .POST, path: path, headers: grpc, body: [])
                        #expect(response.status == 200)
                    }
                    // Not a gRPC call: the same answer is a plain 200.
                    _ = try await TestHTTPClient.request(port: harness.port, method: .POST, path: "/grpc-status/none")
                    await harness.settleMeasurements()
                    let stats = harness.lifetime(route: "fraud", version: "v1")
                    #expect(stats.requests == 5)
                    #expect(stats.errorsByKind[ErrorKind.grpc.index] == 2)
                    #expect(stats.errorsByKind[ErrorKind.reset.index] == 1)
                    #expect(stats.errorsByKind.reduce(0, +) == 3)
                }
            }
        }

        @Test func callsWeirFailsItselfGetAGRPCStatus() async throws {
            let slow = try GRPCPeer.Server(name: "slow", delayMilliseconds: 3000)
            try await Self.withServers([slow]) { servers in
                let closedPort = try await FreePort.find()
                let routes = """
                    routes:
                      - name: down
                        match: { path_prefix: /down.Service/ }
                        versions:
                          v1: { upstreams: ["h2c://127.0.0.1:\(closedPort)"] }
                        stable: v1
                      - name: slow
                        match: { path_prefix: /weir.test.Echo/ }
                        timeout: 500ms
                        versions:
                          v1: { upstreams: ["h2c://127.0.0.1:\(servers[0].port)"] }
                        stable: v1
                    """
                try await withWeir(routes: routes, server: "h2c: true") { weir in
                    let target = "127.0.0.1:\(weir.port)"
                    let noRoute = try GRPCPeer.calls(target: target, count: 2, method: "/nowhere.Service/Call")
                    #expect(noRoute.codes == ["NOT_FOUND": 2])
                    #expect(noRoute.details.first?.contains("no_route") == true)
                    let down = try GRPCPeer.calls(target: target, count: 2, method: "/down.Service/Call")
                    #expect(down.codes == ["UNAVAILABLE": 2])
                    #expect(down.details.first?.contains("route down, version v1") == true, "\(down.details)")
                    let late = try GRPCPeer.calls(target: target, count: 1)
                    #expect(late.codes == ["DEADLINE_EXCEEDED": 1])
                    #expect(late.details.first?.contains("upstream_timeout") == true, "\(late.details)")
                }
            }
        }
    }
}
