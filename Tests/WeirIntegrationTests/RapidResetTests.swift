import Foundation
import Testing
import WeirTesting

extension IntegrationTests {
    /// HTTP/2 rapid reset (CVE-2023-44487) against the real binary, with Python's `h2` as the
    /// attacking client (`scripts/h2_rapid_reset.py`) and an upstream that answers slowly, so every
    /// reset stream has an exchange in flight.
    @Suite struct RapidResetTests {
        static var script: String { Self.script("h2_rapid_reset.py") }

        /// A script of `scripts/` by name.
        static func script(_ name: String) -> String { RepositoryPath.of("scripts/\(name)") }

        @Test func resetFloodsEndTheConnectionAndOpenFewUpstreamConnections() async throws {
            let upstream = try await RequestLogServer.start(delay: .milliseconds(200))
            defer { Task { await upstream.stop() } }
            let routes = routeYAML(versions: [("v1", upstream.url)], canary: nil, steps: "[50]")
            try await withWeir(routes: routes, server: "h2c: true") { weir in
                for _ in 0..<3 {
                    let result = try ChildProcess.run(command: ["python3", Self.script, String(weir.port), "1000"])
                    #expect(result.status == 0, "\(result.stderr)")
                    print("rapid reset: \(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
                    // The connection is told to calm down (ENHANCE_YOUR_CALM = 11) and closed.
                    #expect(result.stdout.contains("goaway=11"), "\(result.stdout)")
                    #expect(result.stdout.contains("closed=yes"), "\(result.stdout)")
                }
                // 3 000 reset streams cost a handful of upstream connections: a flooding connection is
                // stopped after ~100 streams (the premature-reset check), a stream reset while its
                // exchange waits for a connection leaves the pool's queue and dials nothing of its
                // own, at most 32 dials are under way per pool, and the dials that were made serve
                // the next streams. (Before the queue: ~130 per flood, one per stream that waited.)
                print("upstream connections opened by 3 x 1000 HEADERS+RST: \(upstream.connectionsOpened)")
                #expect(upstream.connectionsOpened <= 3 * 32, "opened \(upstream.connectionsOpened)")
                // And weir still serves.
                let reply = try await RawTCPClient.exchange(
                    port: weir.port, send: Array("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
                #expect(reply.text.hasPrefix("HTTP/1.1 200"), "\(reply.text)")
            }
        }

        /// HTTP/2 smuggling over real sockets: request bodies with no `content-length`, on methods
        /// that usually have none, must reach an HTTP/1.1 upstream framed (chunked), whole, as
        /// exactly one request each — never as a bare body a second request could hide in.
        @Test func http2BodiesWithoutALengthReachTheUpstreamFramed() async throws {
            let upstream = try await RequestLogServer.start()
            defer { Task { await upstream.stop() } }
            let routes = routeYAML(versions: [("v1", upstream.url)], canary: nil, steps: "[50]")
            try await withWeir(routes: routes, server: "h2c: true") { weir in
                let methods = ["GET", "POST", "DELETE", "OPTIONS"]
                let result = try ChildProcess.run(
                    command: ["python3", Self.script("h2_body_requests.py"), String(weir.port)] + methods)
                #expect(result.status == 0, "\(result.stderr)")
                for method in methods { #expect(result.stdout.contains("\(method) 200"), "\(result.stdout)") }
                let entries = upstream.entries
                #expect(entries.count == methods.count, "the upstream parsed \(entries.map(\.method))")
                for entry in entries {
                    #expect(entry.uri == "/h2-body")
                    #expect(entry.body == Array("part1-part2".utf8), "\(entry.method)")
                    let framed = entry.header("transfer-encoding") == ["chunked"] || entry.header("content-length") == ["11"]
                    #expect(framed, "\(entry.method) reached the upstream without framing: \(entry.headers)")
                }
            }
        }
    }
}
