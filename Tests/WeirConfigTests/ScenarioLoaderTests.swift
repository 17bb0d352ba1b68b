import Testing
import WeirConfig
import WeirCore

@Suite struct ScenarioLoaderTests {
    @Test func readsPhasesWithDefaultsForTheCanary() throws {
        let loaded = try ScenarioLoader.parse(
            yaml: """
                route: fraud
                phases:
                  - duration: 2m
                    rps: 150
                    stable: { error_rate: 0.01, latency_p50: 20ms, latency_p99: 80ms }
                  - duration: 30s
                    rps: 10
                    stable: { error_rate: 0 }
                    canary: { error_rate: 0.5, latency_p99: 1s }
                """,
            file: "s.yaml"
        )
        #expect(loaded.route == "fraud")
        #expect(loaded.scenario.phases.count == 2)
        #expect(loaded.scenario.phases[0].canary == loaded.scenario.phases[0].stable)
        #expect(loaded.scenario.phases[0].stable.latencyP99 == 0.080)
        #expect(loaded.scenario.phases[1].canary.errorRate == 0.5)
        #expect(loaded.scenario.totalDuration == .seconds(150))
    }

    @Test func reportsBadPhasesWithLineAndPath() throws {
        let error = try #require(throws: ConfigErrors.self) {
            try ScenarioLoader.parse(
                yaml: """
                    phases:
                      - duration: forever
                        rps: 10
                        stable: { error_rate: 2 }
                    """,
                file: "s.yaml"
            )
        }
        #expect(error.errors.contains { $0.path == "phases[0].duration" && $0.line == 2 })
        #expect(error.errors.contains { $0.path == "phases[0].stable.error_rate" && $0.line == 4 })
    }
}

@Suite struct SequentialJudgeConfigTests {
    let base = """
        routes:
          - name: fraud
            match: { path_prefix: / }
            versions: { v1: { upstreams: ["http://127.0.0.1:1"] }, v2: { upstreams: ["http://127.0.0.1:2"] } }
            stable: v1
            canary: v2
        """

    @Test func readsTheSequentialJudgeSettings() throws {
        let yaml =
            base + """

                    policy:
                      judge: sequential
                      sequential: { alpha: 0.005, ratios: [2, 4], r0: 1.2, latency: 250ms, max_step_time: 1m, min_bake_time: 5s }
                """
        let policy = try ConfigLoader.parse(yaml: yaml, file: "w.yaml").routes[0].policy
        let settings = try #require(policy.sequential)
        #expect(settings.alpha == 0.005 && settings.ratios == [2, 4] && settings.r0 == 1.2)
        #expect(settings.latency == .slowEvents(thresholdSeconds: 0.25))
        #expect(settings.maxStepTime == .seconds(60) && settings.minBakeTime == .seconds(5))
        let defaults = try ConfigLoader.parse(yaml: base + "\n    policy: { judge: sequential }\n", file: "w.yaml")
            .routes[0].policy.sequential
        #expect(defaults == SequentialPolicy())
    }

    @Test func refusesTheSequentialJudgeOnStickyRoutesAndBadSettings() throws {
        let sticky = base + "\n    sticky: { header: x-user-id }\n    policy: { judge: sequential }\n"
        let error = try #require(throws: ConfigErrors.self) { try ConfigLoader.parse(yaml: sticky, file: "w.yaml") }
        #expect(
            error.errors.contains {
                $0.path == "routes[0].policy.judge" && $0.message.contains("sticky") && $0.line == 8
            })

        let bad = base + "\n    policy:\n      judge: sequential\n      sequential: { alpha: 2, latency: sometimes }\n"
        let errors = try #require(throws: ConfigErrors.self) { try ConfigLoader.parse(yaml: bad, file: "w.yaml") }
        #expect(errors.errors.contains { $0.path == "routes[0].policy.sequential.alpha" && $0.line == 9 })
        #expect(errors.errors.contains { $0.path == "routes[0].policy.sequential.latency" && $0.line == 9 })

        let orphan = base + "\n    policy: { sequential: { alpha: 0.01 } }\n"
        let orphanErrors = try #require(throws: ConfigErrors.self) {
            try ConfigLoader.parse(yaml: orphan, file: "w.yaml")
        }
        #expect(orphanErrors.errors.contains { $0.message.contains("need 'judge: sequential'") })
    }
}
