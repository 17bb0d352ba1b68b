import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

/// Judge v2: a held canary stays judged by `weir serve`, and a reload that changes a route but not
/// its rollout carries the rollout on.
extension IntegrationTests {
    @Suite struct HeldCanaryTests {
        @Test func aHeldCanaryThatStartsFailingIsRolledBackEvenAcrossAReload() async throws {
            try await withDemoServers([
                DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2"),
                DemoModelBehavior(version: "v2", errorRate: 0.6),
            ]) { servers in
                try await withWeir(
                    routes: fastRolloutRoute(stable: servers[0].url, canary: servers[1].url), token: "tok"
                ) { weir in
                    #expect(try weir.weirctl(["pause", "fraud"]).status == 0)
                    try await StoreTroubleTests.load(weir, path: "/v2/models/fraud/infer", for: .seconds(3))
                    // Healthy and held: judged, and left where it is.
                    var route = try await weir.admin("GET", "/v1/routes/fraud").json
                    #expect(route["state"] as? String == "paused")

                    // The canary's servers change under it (a reload: same stable, canary and
                    // policy), and the new ones fail.
                    let config = try String(contentsOfFile: weir.configPath, encoding: .utf8)
                    try config.replacingOccurrences(of: servers[1].url, with: servers[2].url)
                        .write(toFile: weir.configPath, atomically: true, encoding: .utf8)
                    #expect(try weir.weirctl(["reload"]).status == 0)
                    #expect(try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String == "paused")
                    let started = ContinuousClock.now
                    var state = "paused"
                    while state == "paused" && ContinuousClock.now - started < .seconds(15) {
                        try await StoreTroubleTests.load(weir, path: "/v2/models/fraud/infer", for: .milliseconds(500))
                        state = try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String ?? "?"
                    }
                    #expect(state == "rolled_back")
                    route = try await weir.admin("GET", "/v1/routes/fraud").json
                    let reason = (route["last_event"] as? [String: Any])?["reason"] as? String ?? ""
                    #expect(reason.contains("while held"), "\(reason)")
                    #expect((route["weights"] as? [String: Double])?["v2"] == 0)
                }
            }
        }
    }
}
