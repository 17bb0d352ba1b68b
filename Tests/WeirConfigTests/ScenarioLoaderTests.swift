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
