import Foundation
import NIOCore
import Testing
import WeirConfig
import WeirCore
import WeirProxy
import WeirTesting

extension IntegrationTests {
    /// The request path's safety rules against a real data plane and a real upstream that logs every
    /// request it parses: smuggling, slow clients, circuit breakers, and a generated fuzz run.
    @Suite struct DataPlaneSafetyTests {
        static func route(_ upstream: String, extra: String = "") -> String {
            """
            routes:
              - name: logged
                match: { path_prefix: / }
                timeout: 5s
                versions:
                  v1: { upstreams: ["\(upstream)"] }
                stable: v1
            \(extra)
            """
        }

        /// `requests` GETs at once, each on a connection of its own (so both event loops get some);
        /// the status line of each answer (`HTTP/1.1 503`), in no particular order.
        static func statusLines(
            port: Int, requests: Int, readFor: Duration = .seconds(10), path: @escaping @Sendable (Int) -> String
        ) async throws -> [String] {
            try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<requests {
                    group.addTask {
                        let reply = try await RawTCPClient.exchange(
                            port: port,
                            send: Array("GET \(path(index)) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8),
                            readFor: readFor)
                        return String(reply.text.prefix(12))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }

        static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\nx-test-id: evil\r\n\r\n"

        /// Each way a body used to reach the upstream as a second request that weir never routed.
        static var smugglingVariants: [(name: String, request: String, refused: Bool)] {
            let body = smuggled
            var variants: [(String, String, Bool)] = [
                (
                    "TRACE with a content-length body",
                    "TRACE /a HTTP/1.1\r\nHost: x\r\nx-test-id: attack\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)",
                    true
                )
            ]
            for method in ["GET", "HEAD", "DELETE", "OPTIONS", "PROPFIND"] {
                variants.append(
                    (
                        "\(method) with a body and Connection: content-length",
                        "\(method) /a HTTP/1.1\r\nHost: x\r\nx-test-id: attack\r\nConnection: content-length\r\n"
                            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)", false
                    ))
                let chunk = String(body.utf8.count, radix: 16)
                variants.append(
                    (
                        "\(method) with a chunked body and Connection: transfer-encoding",
                        "\(method) /a HTTP/1.1\r\nHost: x\r\nx-test-id: attack\r\nConnection: transfer-encoding\r\n"
                            + "Transfer-Encoding: chunked\r\n\r\n\(chunk)\r\n\(body)\r\n0\r\n\r\n", false
                    ))
            }
            return variants
        }

        @Test func aRequestBodyNeverReachesTheUpstreamAsASecondRequest() async throws {
            let upstream = try await RequestLogServer.start()
            defer { Task { await upstream.stop() } }
            try await ProxyHarness.run(yaml: Self.route(upstream.url)) { harness in
                for variant in Self.smugglingVariants {
                    let follow = "GET /ok HTTP/1.1\r\nHost: x\r\nx-test-id: follow\r\nConnection: close\r\n\r\n"
                    let reply = try await RawTCPClient.exchange(
                        port: harness.port, send: Array((variant.request + follow).utf8))
                    let entries = upstream.entries
                    #expect(!entries.contains { $0.uri.contains("smuggled") }, "\(variant.name): \(reply.text)")
                    #expect(!entries.contains { $0.header("x-test-id").contains("evil") }, "\(variant.name)")
                    if variant.refused {
                        #expect(reply.text.hasPrefix("HTTP/1.1 405"), "\(variant.name): \(reply.text)")
                    } else {
                        let attack = entries.last { $0.header("x-test-id") == ["attack"] }
                        #expect(attack?.body.count == Self.smuggled.utf8.count, "\(variant.name)")
                    }
                    // The request after it is answered with its own answer, on the same connection.
                    #expect(reply.text.contains("id=follow"), "\(variant.name): \(reply.text)")
                    #expect(!reply.text.contains("id=evil"), "\(variant.name)")
                }
            }
        }

        @Test func headRulesAnswer400AndCloseOnTheWire() async throws {
            let upstream = try await RequestLogServer.start()
            defer { Task { await upstream.stop() } }
            try await ProxyHarness.run(yaml: Self.route(upstream.url)) { harness in
                for request in [
                    "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\nx-test-id: dup\r\n\r\n",
                    "GET /a HTTP/1.1\r\nx-test-id: nohost\r\n\r\n",
                    "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nx-test-id: te10\r\n\r\n0\r\n\r\n",
                    "GET /a/../../etc/passwd HTTP/1.1\r\nHost: x\r\nx-test-id: dots\r\n\r\n",
                ] {
                    let reply = try await RawTCPClient.exchange(port: harness.port, send: Array(request.utf8))
                    #expect(
                        reply.text.hasPrefix("HTTP/1.1 400") || reply.text.hasPrefix("HTTP/1.0 400"),
                        "\(request.debugDescription): \(reply.text)")
                    #expect(reply.closedByPeer)
                }
                #expect(upstream.entries.isEmpty)
                // Dot-segments are resolved before matching, and the upstream gets the normal form.
                let reply = try await RawTCPClient.exchange(
                    port: harness.port,
                    send: Array("GET /x/%2e%2e/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
                #expect(reply.text.hasPrefix("HTTP/1.1 200"))
                #expect(upstream.entries.last?.uri == "/y")
            }
        }

        @Test func forwardingHeadersAreBelievedOnlyFromTrustedProxies() async throws {
            let upstream = try await RequestLogServer.start()
            defer { Task { await upstream.stop() } }
            let request = Array(
                ("GET /a HTTP/1.1\r\nHost: api\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
                    + "Connection: close\r\n\r\n").utf8)
            for trusted in [false, true] {
                var limits = ConnectionLimits()
                if trusted { limits.trustedProxies = [try #require(CIDRBlock("127.0.0.0/8"))] }
                try await ProxyHarness.run(yaml: Self.route(upstream.url), limits: limits) { harness in
                    let reply = try await RawTCPClient.exchange(port: harness.port, send: request)
                    #expect(reply.text.hasPrefix("HTTP/1.1 200"))
                }
                let entry = try #require(upstream.entries.last)
                #expect(entry.header("x-forwarded-for") == [trusted ? "203.0.113.9, 127.0.0.1" : "127.0.0.1"])
                #expect(entry.header("x-forwarded-proto") == [trusted ? "https" : "http"])
                #expect(entry.header("x-forwarded-host") == ["api"])
            }
        }

        @Test func stalledUploadsGet408AndFreeTheirConnections() async throws {
            let upstream = try await RequestLogServer.start()
            defer { Task { await upstream.stop() } }
            var limits = ConnectionLimits(maxConnections: 4)
            limits.clientBodyTimeout = .seconds(1)
            try await ProxyHarness.run(yaml: Self.route(upstream.url), limits: limits) { harness in
                let started = ContinuousClock.now
                let replies = try await withThrowingTaskGroup(of: RawTCPClient.Reply.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            try await RawTCPClient.exchange(
                                port: harness.port,
                                send: Array("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nx".utf8),
                                readFor: .seconds(8))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for reply in replies {
                    #expect(reply.text.hasPrefix("HTTP/1.1 408"), "\(reply.text)")
                    #expect(reply.closedByPeer)
                }
                #expect(ContinuousClock.now - started < .seconds(8))
                // The connections are free again: a normal request is served.
                let reply = try await RawTCPClient.exchange(
                    port: harness.port, send: Array("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
                #expect(reply.text.hasPrefix("HTTP/1.1 200"))
                await harness.settleMeasurements()
                let counts = harness.lifetime(route: "logged", version: "v1")
                // Stalled clients are their own kind, never the version's timeout.
                #expect(counts.errorsByKind[ErrorKind.client.index] == 4)
                #expect(counts.errorsByKind[ErrorKind.timeout.index] == 0)
                #expect(counts.requests == 1)
            }
        }

        @Test func circuitBreakersBoundUpstreamConnectionsAndOverflowFast() async throws {
            let upstream = try await RequestLogServer.start(delay: .milliseconds(500))
            defer { Task { await upstream.stop() } }
            let extra = "    circuit_breakers: { max_connections: 2, max_pending: 2, max_requests: 4 }"
            try await ProxyHarness.run(yaml: Self.route(upstream.url, extra: extra)) { harness in
                let statuses = try await Self.statusLines(port: harness.port, requests: 24) { "/a?id=\($0)" }
                let overflowed = statuses.filter { $0 == "HTTP/1.1 503" }.count
                let served = statuses.filter { $0 == "HTTP/1.1 200" }.count
                #expect(overflowed + served == 24, "\(statuses)")
                #expect(overflowed > 0)
                #expect(served >= 2)
                // Two event loops, each with its share (1) of max_connections 2.
                #expect(upstream.connectionsOpened <= 2, "opened \(upstream.connectionsOpened)")
                await harness.settleMeasurements()
                let counts = harness.lifetime(route: "logged", version: "v1")
                #expect(counts.errorsByKind[ErrorKind.overflow.index] == UInt64(overflowed))
            }
        }

        /// A reload that changes an upstream's settings (here its breakers) retires its pools:
        /// exchanges already waiting in their queues are still served, none gets a 502.
        @Test func aReloadDropsNoExchangeWaitingForAConnection() async throws {
            let upstream = try await RequestLogServer.start(delay: .milliseconds(300))
            defer { Task { await upstream.stop() } }
            let routes = Self.route(upstream.url, extra: "    circuit_breakers: { max_connections: 2, max_pending: 100 }")
            try await withWeir(routes: routes) { weir in
                let port = weir.port
                async let statuses = Self.statusLines(port: port, requests: 12) { "/w/\($0)" }
                try await Task.sleep(for: .milliseconds(150))
                let yaml = try String(contentsOfFile: weir.configPath, encoding: .utf8)
                try yaml.replacingOccurrences(of: "max_connections: 2", with: "max_connections: 4")
                    .write(toFile: weir.configPath, atomically: true, encoding: .utf8)
                #expect(try await weir.admin("POST", "/v1/reload", body: "{}").status == 200)
                let answered = try await statuses
                #expect(answered.allSatisfy { $0 == "HTTP/1.1 200" }, "\(answered)")
                #expect(upstream.entries.count == 12)
            }
        }

        /// Exchanges waiting for a connection that is still being made — here a TLS handshake an
        /// upstream never answers, so ALPN never says HTTP/1.1 or h2 — count against `max_pending`
        /// like those queued for HTTP/1.1: past it they get `503 overflow` at once instead of all
        /// piling up behind the dial.
        @Test func exchangesWaitingForAHandshakeAreBoundedByMaxPending() async throws {
            let silent = try SilentListener()
            defer { silent.close() }
            let extra = "    circuit_breakers: { max_pending: 2 }"
            try await ProxyHarness.run(yaml: Self.route("https://127.0.0.1:\(silent.port)", extra: extra)) { harness in
                let statuses = try await Self.statusLines(port: harness.port, requests: 12, readFor: .seconds(12)) {
                    "/a/\($0)"
                }
                // Two event loops, each with its share (1) of max_pending 2: at most two wait.
                let overflowed = statuses.filter { $0 == "HTTP/1.1 503" }.count
                #expect(overflowed >= 10, "\(statuses)")
                #expect(statuses.allSatisfy { ["HTTP/1.1 503", "HTTP/1.1 502", "HTTP/1.1 504"].contains($0) }, "\(statuses)")
                await harness.settleMeasurements()
                #expect(harness.lifetime(route: "logged", version: "v1").errorsByKind[ErrorKind.overflow.index] == UInt64(overflowed))
            }
        }

        /// Random heads, framings, hop-by-hop lists and bodies, some pipelined, through weir to the
        /// logging upstream (seeded, bounded): the upstream never parses a request the client did not
        /// send, and every answer goes to the client that asked.
        @Test func fuzzedRequestsNeverSmuggleOrCrossAnswers() async throws {
            let upstream = try await RequestLogServer.start()
            defer { Task { await upstream.stop() } }
            var random = SplitMix64(seed: 2026)
            func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
            let methods = [
                "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "FROB", "PROPFIND", "CONNECT",
            ]
            let connectionLists = [
                "", "close", "keep-alive", "content-length", "transfer-encoding", "host", "x-forwarded-for",
                "content-length, host", "te", "x-custom",
            ]
            try await ProxyHarness.run(yaml: Self.route(upstream.url)) { harness in
                for round in 0..<150 {
                    var sent = ""
                    var ids: [String] = []
                    for index in 0..<(1 + Int(random.next() % 2)) {
                        let id = "r\(round)-\(index)"
                        ids.append(id)
                        let method = pick(methods)
                        let body = String(repeating: pick(["a", Self.smuggled]), count: Int(random.next() % 3))
                        var head =
                            "\(method) /\(pick(["a", "a/../b", "%2e/c", "x?y=1"])) \(pick(["HTTP/1.1", "HTTP/1.0"]))\r\n"
                        head += pick(["Host: x\r\n", "Host: x\r\nHost: y\r\n", "", "Host: x\r\n"])
                        head += "x-test-id: \(id)\r\n"
                        let connection = pick(connectionLists)
                        if !connection.isEmpty { head += "Connection: \(connection)\r\n" }
                        switch random.next() % 3 {
                        case 0:
                            sent += head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
                        case 1:
                            let chunk = body.isEmpty ? "" : String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n"
                            sent += head + "Transfer-Encoding: chunked\r\n\r\n" + chunk + "0\r\n\r\n"
                        default:
                            // No framing means no body: what follows would be the client's own next request.
                            sent += head + "\r\n"
                        }
                    }
                    let before = upstream.entries.count
                    let reply = try await RawTCPClient.exchange(
                        port: harness.port, send: Array(sent.utf8), readFor: .milliseconds(400))
                    let logged = upstream.entries[before...]
                    for entry in logged {
                        let id = entry.header("x-test-id")
                        #expect(
                            id.count == 1 && ids.contains(id[0]),
                            "round \(round): upstream parsed \(entry.uri) \(id) from \(sent.debugDescription)")
                        #expect(!entry.uri.contains("smuggled"), "round \(round)")
                    }
                    // Every answer the client got names one of its own requests.
                    for line in reply.text.split(separator: "\n") where line.hasPrefix("id=") {
                        let id = line.dropFirst(3).prefix { $0 != " " }
                        #expect(ids.contains(String(id)), "round \(round): got \(line)")
                    }
                }
            }
        }
    }
}
