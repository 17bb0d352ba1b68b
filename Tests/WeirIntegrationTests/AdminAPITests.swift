import Foundation
import NIOHTTP1
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// Every admin endpoint over real sockets against a real `weir serve`.
    @Suite struct AdminAPITests {
        static func routes(_ v1: String, _ v2: String, interval: String = "1h") -> String {
            """
            routes:
              - name: fraud
                match: { path_prefix: /v2/models/fraud }
                versions:
                  v1: { upstreams: ["\(v1)"], metadata: { owner: risk-team } }
                  v2: { upstreams: ["\(v2)"] }
                stable: v1
                canary: v2
                policy: { steps: [10, 25, {weight: 50, pause: true}], interval: \(interval), warmup: 1s }
            """
        }

        @Test func everyEndpointAnswersAsTheContractSays() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await withWeir(routes: Self.routes(servers[0].url, servers[1].url), token: "s3cret-token") { weir in
                    let token = "s3cret-token"

                    #expect(try await weir.admin("GET", "/healthz").status == 200)
                    #expect(try await weir.admin("GET", "/readyz").status == 200)

                    let all = try await weir.admin("GET", "/v1/routes")
                    #expect(all.status == 200)
                    #expect((all.json["routes"] as? [[String: Any]])?.count == 1)

                    let one = try await weir.admin("GET", "/v1/routes/fraud")
                    #expect(one.json["state"] as? String == "progressing")
                    #expect(one.json["step"] as? Int == 0 && one.json["steps"] as? Int == 3)
                    #expect(one.json["weights"] as? [String: Double] == ["v1": 90, "v2": 10])
                    let versions = one.json["versions"] as? [String: [String: Any]]
                    #expect((versions?["v1"]?["metadata"] as? [String: String]) == ["owner": "risk-team"])
                    #expect(versions?["v2"]?["latency_ms"] != nil)
                    #expect((one.json["last_event"] as? [String: Any])?["actor"] as? String == "policy")

                    #expect(try await weir.admin("GET", "/v1/routes/nope").status == 404)
                    #expect(try await weir.admin("GET", "/v1/routes/nope/events").status == 404)
                    #expect(try await weir.admin("POST", "/v1/routes/nope/pause", token: token).status == 404)

                    // Mutating calls need the token.
                    let anonymous = try await weir.admin("POST", "/v1/routes/fraud/pause")
                    #expect(anonymous.status == 401)
                    #expect(anonymous.json["error"] as? String == "unauthorized")
                    #expect(try await weir.admin("POST", "/v1/routes/fraud/pause", token: "wrong-token!").status == 401)

                    let paused = try await weir.admin("POST", "/v1/routes/fraud/pause", token: token)
                    #expect(paused.status == 200)
                    #expect((paused.json["route"] as? [String: Any])?["state"] as? String == "paused")
                    let again = try await weir.admin("POST", "/v1/routes/fraud/pause", token: token)
                    #expect(again.status == 409)
                    #expect(again.json["error"] as? String == "already_paused")

                    #expect(try await weir.admin("POST", "/v1/routes/fraud/resume", token: token).status == 200)
                    let promoted = try await weir.admin(
                        "POST", "/v1/routes/fraud/promote", body: "{\"full\":false}", token: token)
                    #expect(
                        ((promoted.json["route"] as? [String: Any])?["weights"] as? [String: Double]) == [
                            "v1": 75, "v2": 25,
                        ])
                    let pinned = try await weir.admin(
                        "POST", "/v1/routes/fraud/weight", body: "{\"canary\":40}", token: token)
                    #expect(
                        ((pinned.json["route"] as? [String: Any])?["weights"] as? [String: Double]) == [
                            "v1": 60, "v2": 40,
                        ])
                    #expect(
                        try await weir.admin("POST", "/v1/routes/fraud/weight", body: "{\"canary\":140}", token: token)
                            .status == 409)
                    #expect(
                        try await weir.admin("POST", "/v1/routes/fraud/weight", body: "not json", token: token).status
                            == 400)
                    #expect(try await weir.admin("POST", "/v1/routes/fraud/undo", token: token).status == 409)
                    #expect(
                        try await weir.admin("POST", "/v1/routes/fraud/promote", body: "{\"full\":true}", token: token)
                            .status == 200)
                    #expect(try await weir.admin("POST", "/v1/routes/fraud/undo", token: token).status == 200)
                    #expect(try await weir.admin("POST", "/v1/routes/fraud/retry", token: token).status == 200)
                    let rolledBack = try await weir.admin(
                        "POST", "/v1/routes/fraud/rollback", body: "{\"reason\":\"drift on slice A\"}", token: token)
                    #expect(rolledBack.status == 200)
                    #expect(
                        (rolledBack.json["event"] as? [String: Any])?["reason"] as? String
                            == "rolled back by operator: drift on slice A")

                    let events = try await weir.admin("GET", "/v1/routes/fraud/events?limit=3")
                    let list = try #require(events.json["events"] as? [[String: Any]])
                    #expect(list.count == 3)
                    #expect(list[0]["to"] as? String == "rolled_back")
                    #expect(list[0]["actor"] as? String == "admin")
                    #expect(list[1]["to"] as? String == "progressing")
                    #expect(try await weir.admin("GET", "/v1/routes/fraud/events?limit=zero").status == 400)

                    // Reload: a bad file is refused with its errors and the running config stays.
                    let good = try String(contentsOfFile: weir.configPath, encoding: .utf8)
                    try good.replacingOccurrences(of: "steps: [10, 25", with: "steps: [30, 25").write(
                        toFile: weir.configPath, atomically: true, encoding: .utf8)
                    let refused = try await weir.admin("POST", "/v1/reload", token: token)
                    #expect(refused.status == 422)
                    #expect(
                        (refused.json["details"] as? [String])?.first?.contains("routes[0].policy.steps[1]") == true)
                    #expect(try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String == "rolled_back")
                    try good.write(toFile: weir.configPath, atomically: true, encoding: .utf8)
                    let reloaded = try await weir.admin("POST", "/v1/reload", token: token)
                    #expect(reloaded.status == 200 && reloaded.json["routes"] as? Int == 1)
                    #expect(try await weir.admin("GET", "/v1/routes/fraud").json["state"] as? String == "rolled_back")
                }
            }
        }
    }
}
