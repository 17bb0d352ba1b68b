import Foundation
import Testing
import WeirDemo
import WeirProxy
import WeirTesting

extension IntegrationTests {
    /// Generated malformed and hostile requests against a real data plane: each gets a 4xx or a
    /// closed connection — never a crash, never a 2xx/5xx — and normal traffic flows throughout.
    @Suite struct HostileInputTests {
        static func cases() -> [(name: String, bytes: [UInt8])] {
            var cases: [(String, [UInt8])] = []
            func add(_ name: String, _ text: String) { cases.append((name, Array(text.utf8))) }
            let path = "/nothing-here"
            // Invalid methods and request lines.
            for method in [
                "G@T", "get", "", "GE T", "\u{7f}GET", String(repeating: "A", count: 300), "PO\rST", "GET\t",
                "CONNECTX", "<script>",
            ] {
                add("method \(method.prefix(8))", "\(method) \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            for line in [
                "GET  HTTP/1.1", "GET / HTTP/9.9", "GET / FOO/1.1", "GET /", "GET / HTTP/1.1 extra", "/ GET HTTP/1.1",
                "GET \u{0}/ HTTP/1.1", "GET /a b HTTP/1.1", "HTTP/1.1 200 OK", "GET / HTTP/1.\u{7}",
            ] {
                add("request line \(line.prefix(12))", "\(line)\r\nHost: x\r\n\r\n")
            }
            // Broken header lines.
            for header in [
                "NoColon", ": empty-name", "Bad Name: v", "X-A: v\r\n folded", "X\u{0}: v", "X-A:\u{0}v", "X-A: v\rY",
                "Host x", "\u{80}: high", "X-A: \u{7f}",
            ] {
                add("header \(header.prefix(10))", "GET \(path) HTTP/1.1\r\nHost: x\r\n\(header)\r\n\r\n")
            }
            // Oversized and too many headers.
            for size in [100_000, 200_000, 1_000_000] {
                add(
                    "header of \(size) bytes",
                    "GET \(path) HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: size))\r\n\r\n")
            }
            for count in [2_000, 10_000] {
                add(
                    "\(count) headers",
                    "GET \(path) HTTP/1.1\r\nHost: x\r\n" + (0..<count).map { "X-\($0): v\r\n" }.joined() + "\r\n")
            }
            add("uri of 1 MB", "GET /\(String(repeating: "u", count: 1_000_000)) HTTP/1.1\r\nHost: x\r\n\r\n")
            // Request smuggling pairs and bad framing.
            let framings = [
                "Content-Length: 5\r\nTransfer-Encoding: chunked", "Transfer-Encoding: chunked\r\nContent-Length: 5",
                "Content-Length: 5\r\nContent-Length: 6", "Content-Length: -1", "Content-Length: 1,2",
                "Content-Length: 0x10",
                "Content-Length: 99999999999999999999999", "Content-Length:  5 5", "Transfer-Encoding: xchunked",
                "Transfer-Encoding: chunked, identity", "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked",
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip", "Transfer-Encoding : chunked",
                "Transfer-Encoding:\tchunked\u{b}",
            ]
            for framing in framings {
                for body in [
                    "", "hello", "0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
                ] {
                    add(
                        "framing \(framing.prefix(20)) body \(body.count)",
                        "POST \(path) HTTP/1.1\r\nHost: x\r\n\(framing)\r\n\r\n\(body)")
                }
            }
            // Broken chunking.
            for chunk in [
                "ZZ\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n", "FFFFFFFFFFFFFFFFFF\r\nx\r\n",
                "5;\u{0}ext\r\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n", "5\r\nhel", " 5\r\nhello\r\n0\r\n\r\n",
                "5\nhello\n0\n\n", "0\r\nX-Trailer\r\n\r\n", "1\r\n\r\n\r\n",
            ] {
                add(
                    "chunking \(chunk.prefix(8).debugDescription)",
                    "POST \(path) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\(chunk)")
            }
            // Truncated bodies and truncated heads (the client then goes away).
            for cut in [1, 10, 99] {
                add(
                    "truncated body \(cut)",
                    "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n\(String(repeating: "b", count: cut))"
                )
            }
            for cut in ["GET", "GET / HTTP/1.1\r\nHo", "GET / HTTP/1.1\r\nHost: x\r\n"] {
                add("truncated head \(cut.count)", cut)
            }
            // Binary garbage.
            var random = SystemRandomNumberGenerator()
            for index in 0..<100 {
                let bytes = (0..<(16 + index * 7)).map { _ in UInt8.random(in: 0...255, using: &random) }
                cases.append(("garbage \(index)", bytes + Array("\r\n\r\n".utf8)))
            }
            return cases
        }

        @Test func hostileRequestsGetA4xxOrAClosedConnectionAndNormalTrafficFlows() async throws {
            let cases = Self.cases()
            #expect(cases.count >= 200)
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil, pathPrefix: "/v2/models/fraud")
                try await ProxyHarness.run(yaml: yaml) { harness in
                    let port = harness.port
                    let stop = ContinuousClock.now + .seconds(60)
                    async let normal = TestHTTPClient.withConnection(port: port) { client in
                        var statuses: [Int] = []
                        while ContinuousClock.now < stop && statuses.count < 400 {
                            statuses.append(try await client.request(path: "/v2/models/fraud").status)
                        }
                        return statuses
                    }
                    var bad: [String] = []
                    var refused = 0
                    for batch in stride(from: 0, to: cases.count, by: 25) {
                        let replies = try await withThrowingTaskGroup(of: (String, RawTCPClient.Reply).self) { group in
                            for (name, bytes) in cases[batch..<min(batch + 25, cases.count)] {
                                group.addTask {
                                    (
                                        name,
                                        try await RawTCPClient.exchange(
                                            port: port, send: bytes, readFor: .milliseconds(500))
                                    )
                                }
                            }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                        for (name, reply) in replies {
                            let text = reply.text
                            let acceptable =
                                text.isEmpty || text.hasPrefix("HTTP/1.1 4") || text.hasPrefix("HTTP/1.0 4")
                            if !acceptable { bad.append("\(name): \(text.prefix(60).debugDescription)") }
                            if text.hasPrefix("HTTP/1.1 4") { refused += 1 }
                        }
                    }
                    // Most are answered (400, 404, 431…), not just dropped.
                    #expect(refused >= cases.count / 2, "only \(refused) of \(cases.count) got a 4xx answer")
                    print("hostile input: \(cases.count) requests, \(refused) answered 4xx, the rest closed")
                    #expect(
                        bad.isEmpty,
                        "\(bad.count) hostile requests got neither a 4xx nor a closed connection: \(bad.prefix(10))")
                    let statuses = try await normal
                    #expect(!statuses.isEmpty && statuses.allSatisfy { $0 == 200 })
                    let after = try await TestHTTPClient.request(port: port, path: "/v2/models/fraud")
                    #expect(after.status == 200)
                }
            }
        }

        @Test func aSlowlorisClientIsCutAtTheIdleTimeout() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml, limits: ConnectionLimits(idleTimeout: .seconds(1))) { harness in
                    let started = ContinuousClock.now
                    let partial = Array("GET /v2/models/fraud HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n".utf8)
                    let reply = try await RawTCPClient.exchange(port: harness.port, send: partial, readFor: .seconds(5))
                    #expect(reply.closedByPeer)
                    #expect(ContinuousClock.now - started < .seconds(3))
                    // A client that keeps its requests coming is not affected.
                    try await TestHTTPClient.withConnection(port: harness.port) { client in
                        for _ in 0..<3 {
                            #expect(try await client.request(path: "/v2/health/ready").status == 200)
                            try await Task.sleep(for: .milliseconds(500))
                        }
                    }
                }
            }
        }

        @Test func connectionsBeyondTheLimitAreRefused() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let yaml = routeYAML(versions: [("v1", servers[0].url)], canary: nil)
                try await ProxyHarness.run(yaml: yaml, limits: ConnectionLimits(maxConnections: 4)) { harness in
                    let port = harness.port
                    let replies = try await withThrowingTaskGroup(of: RawTCPClient.Reply.self) { group in
                        for _ in 0..<10 {
                            group.addTask {
                                try await RawTCPClient.exchange(port: port, send: [], readFor: .seconds(1))
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    let refused = replies.filter(\.closedByPeer).count
                    #expect(refused >= 4 && refused <= 8, "\(refused) of 10 refused with a limit of 4 (2 per loop)")
                    try await Task.sleep(for: .milliseconds(100))
                    #expect(try await TestHTTPClient.request(port: port, path: "/v2/health/ready").status == 200)
                }
            }
        }
    }
}
