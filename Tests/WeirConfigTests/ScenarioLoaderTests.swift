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

@Suite struct LLMConfigTests {
    static func route(_ extra: String, policy: String = "") -> String {
        """
        routes:
          - name: chat
            match: { path_prefix: /v1/ }
        \(extra)
            versions:
              a: { upstreams: ["http://127.0.0.1:9001"] }
              b: { upstreams: ["http://127.0.0.1:9002"] }
            stable: a
            canary: b
        \(policy)
        """
    }

    @Test func readsTheLLMKeyTheChecksAndTurnsTheTokenTestsOnForLLMRoutes() throws {
        let policy = """
                policy:
                  judge: sequential
                  checks:
                    - { metric: ttft_p95, max_ratio: 1.5 }
                    - { metric: tpot_p50, max: 40ms }
                    - { metric: output_tokens_mean, max_increase: 50 }
                    - { metric: finish_length_rate, max_increase: 0.05 }
                    - { metric: stream_error_rate, max: 0.01 }
            """
        let config = try ConfigLoader.parse(yaml: Self.route("    llm: openai", policy: policy), file: "w.yaml")
        let route = try #require(config.routes.first)
        #expect(route.llm == .openai)
        #expect(
            route.policy.checks.map(\.metric) == [
                .timeToFirstToken(percentile: 95), .timePerOutputToken(percentile: 50), .outputTokensMean,
                .finishLengthRate, .streamErrorRate,
            ])
        #expect(route.policy.checks[1].bound == .max(0.040))
        #expect(route.policy.sequential?.ttft == .slowEvents(thresholdSeconds: nil))
        #expect(route.policy.sequential?.tpot == .slowEvents(thresholdSeconds: nil))
        #expect(route.policy.errors.contains(.stream))
        // Not an LLM route: the token tests stay off unless asked for.
        let plain = try ConfigLoader.parse(yaml: Self.route("", policy: "    policy: { judge: sequential }"), file: "w.yaml")
        #expect(plain.routes[0].llm == nil && plain.routes[0].policy.sequential?.ttft == nil)
        let asked = try ConfigLoader.parse(
            yaml: Self.route("    llm: kserve", policy: "    policy: { judge: sequential, sequential: { ttft: 500ms, tpot: \"off\" } }"),
            file: "w.yaml")
        #expect(asked.routes[0].policy.sequential?.ttft == .slowEvents(thresholdSeconds: 0.5))
        #expect(asked.routes[0].policy.sequential?.tpot == .off)
    }

    @Test func reportsBadLLMSettingsWithTheirPath() throws {
        for (extra, policy, expected) in [
            ("    llm: anthropic", "", "routes[0].llm"),
            ("", "    policy:\n      checks: [{ metric: finish_length_rate, max: 2 }]", "routes[0].policy.checks[0].max"),
            ("", "    policy:\n      checks: [{ metric: ttft_p95, max: fast }]", "routes[0].policy.checks[0].max"),
            ("", "    policy:\n      checks: [{ metric: tokens_p50, max: 1 }]", "routes[0].policy.checks[0].metric"),
        ] {
            let error = try #require(throws: ConfigErrors.self) {
                try ConfigLoader.parse(yaml: Self.route(extra, policy: policy), file: "w.yaml")
            }
            #expect(error.errors.contains { $0.path == expected }, "\(error)")
        }
    }

    @Test func scenariosDescribeGenerationPerVersionAndTheCanaryInheritsTheStables() throws {
        let loaded = try ScenarioLoader.parse(
            yaml: """
                phases:
                  - duration: 1m
                    rps: 20
                    stable: { ttft_p50: 200ms, ttft_p99: 600ms, tpot_p50: 20ms, output_tokens: 150 }
                    canary: { ttft_p50: 400ms, ttft_p99: 1200ms }
                """, file: "s.yaml")
        let phase = try #require(loaded.scenario.phases.first)
        #expect(phase.stable.llm?.ttftP50 == 0.2 && phase.stable.llm?.outputTokens == 150)
        #expect(phase.canary.llm?.ttftP50 == 0.4 && phase.canary.llm?.tpotP50 == 0.02 && phase.canary.llm?.outputTokens == 150)
    }
}

@Suite struct ShadowConfigTests {
    static func route(_ shadow: String) -> String {
        """
        routes:
          - name: fraud
            match: { path_prefix: /v2/models/fraud }
            versions:
              v1: { upstreams: ["http://127.0.0.1:9001"] }
              v3: { upstreams: ["http://127.0.0.1:9003"] }
            stable: v1
            shadow: \(shadow)
        """
    }

    @Test func readsTheShadowBlockWithItsComparison() throws {
        let config = try ConfigLoader.parse(
            yaml: Self.route(
                #"{ version: v3, percent: 25, max_body: 512KiB, max_in_flight: 8, noise: 1, redact: [ID], compare: { kind: numeric, path: "outputs[0].data", abs: 0.01, rel: 0, cosine: 0.99 } }"#
            ), file: "w.yaml")
        let shadow = try #require(config.routes[0].shadow)
        #expect(shadow.versionIndex == 1 && shadow.percent == 25 && shadow.maxBody == 512 * 1024)
        #expect(shadow.maxInFlight == 8 && shadow.noise == 1 && shadow.redact == ["id"])
        #expect(shadow.compare.kind == .numeric && shadow.compare.path?.description == "outputs[0].data")
        #expect(shadow.compare.absolute == 0.01 && shadow.compare.cosine == 0.99)
        let preset = try ConfigLoader.parse(yaml: Self.route("{ version: v3, compare: { preset: openai } }"), file: "w.yaml")
        #expect(preset.routes[0].shadow?.compare == .openai && preset.routes[0].shadow?.noise == 2)
    }

    @Test func reportsBadShadowSettingsWithTheirPath() throws {
        for (shadow, expected) in [
            ("{ version: v9, compare: { kind: json } }", "routes[0].shadow.version"),
            ("{ version: v1, compare: { kind: json } }", "routes[0].shadow.version"),
            ("{ version: v3, compare: { kind: label } }", "routes[0].shadow.compare.path"),
            ("{ version: v3, compare: { kind: guess, path: a } }", "routes[0].shadow.compare.kind"),
            ("{ version: v3, compare: { kind: label, path: \"a[x]\" } }", "routes[0].shadow.compare.path"),
            ("{ version: v3, max_body: lots, compare: { kind: json } }", "routes[0].shadow.max_body"),
            ("{ version: v3, noise: 3, compare: { kind: json } }", "routes[0].shadow.noise"),
            ("{ version: v3, percent: 0, compare: { kind: json } }", "routes[0].shadow.percent"),
            ("{ version: v3, max_body: 0.5B, compare: { kind: json } }", "routes[0].shadow.max_body"),
        ] {
            let error = try #require(throws: ConfigErrors.self) { try ConfigLoader.parse(yaml: Self.route(shadow), file: "w.yaml") }
            #expect(error.errors.contains { $0.path == expected }, "\(shadow): \(error)")
        }
    }
}
