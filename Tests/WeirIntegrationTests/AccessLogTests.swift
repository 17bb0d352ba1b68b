import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// `server.access_log: true` on the real binary: one combined-log-format line per request on
    /// standard output, with route, version, status and durations.
    @Suite struct AccessLogTests {
        @Test func everyRequestGetsOneLineWithRouteVersionStatusAndDurations() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let routes = routeYAML(
                    versions: [("v1", servers[0].url)], canary: nil, steps: "[50]", pathPrefix: "/v2/")
                let weir = try await WeirProcess(routes: routes, server: "access_log: true")
                for _ in 0..<3 {
                    let ok = try await TestHTTPClient.request(
                        port: weir.port, method: .GET, path: "/v2/models/fraud",
                        headers: [("user-agent", "probe/1 \"x\"")])
                    #expect(ok.status == 200)
                }
                let missing = try await TestHTTPClient.request(port: weir.port, method: .GET, path: "/nothing/here")
                #expect(missing.status == 404)
                let child = try #require(weir.child)
                child.signal(SIGTERM)
                #expect(await child.waitForExit(limit: .seconds(10)) == 0)
                let lines = child.standardOutputText().split(separator: "\n")
                try? FileManager.default.removeItem(at: weir.directory)

                #expect(lines.count == 4, "\(lines)")
                let served = lines.filter { $0.contains("\"GET /v2/models/fraud HTTP/1.1\" 200 ") }
                #expect(served.count == 3)
                let first = try #require(served.first)
                // Combined log format, then weir's fields.
                let pattern =
                    #/^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /v2/models/fraud HTTP/1\.1" 200 (\d+) "-" "probe/1 \\x22x\\x22" route=fraud version=v1 ttfb_ms=\d+\.\d{2} total_ms=\d+\.\d{2} error=-$/#
                let match = try #require(first.wholeMatch(of: pattern), "unexpected line: \(first)")
                #expect(Int(match.1) ?? 0 > 0, "body bytes are counted")
                let notFound = try #require(lines.first { $0.contains("/nothing/here") })
                #expect(notFound.contains("\" 404 ") && notFound.contains("route=- version=-"))
                #expect(notFound.hasSuffix("error=no_route"))
            }
        }
    }
}
