import ArgumentParser
import Foundation
import WeirConfig
import WeirCore

/// `weir simulate`: replays a scenario through the real policy engine on a virtual clock.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Replay a synthetic traffic scenario through the rollout policy on a virtual clock and print the decisions."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: "The scenario file (YAML; see the README).")
    var scenario: String

    @Option(help: "The route to simulate (default: the scenario's, else the first route with a canary).")
    var route: String?

    @Option(help: "Random seed; the same seed gives the same run.")
    var seed: UInt64 = 1

    @Option(help: "Run this many seeded runs (seed, seed+1, …) and print the outcome shares instead of one timeline.")
    var runs: Int?

    @Flag(help: "With --runs: run the fixed-threshold checks and the sequential judge side by side on the same seeds.")
    var compare = false

    func validate() throws {
        if let runs, runs < 1 { throw ValidationError("--runs must be at least 1") }
        if compare && runs == nil { throw ValidationError("--compare needs --runs") }
    }

    func run() throws {
        let config = try options.load()
        let loaded: ScenarioLoader.Loaded
        do {
            loaded = try ScenarioLoader.load(path: scenario)
        } catch {
            var standardError = FileHandle.standardError
            for problem in error.errors { print("error: \(problem)", to: &standardError) }
            throw ExitCode(2)
        }
        let name = route ?? loaded.route
        guard
            let chosen = name.map({ name in config.routes.first { $0.name == name } })
                ?? config.routes.first(where: { $0.canaryIndex != nil })
        else {
            throw ValidationError(
                name.map { "no route named \($0) in \(options.config)" }
                    ?? "no route in \(options.config) has a canary to simulate")
        }
        guard chosen.canaryIndex != nil else { throw ValidationError("route \(chosen.name) has no canary to simulate") }
        let simulator = RolloutSimulator(route: chosen, scenario: loaded.scenario)
        print(Self.describe(chosen, scenario: loaded.scenario))
        if let runs, compare {
            printComparison(route: chosen, scenario: loaded.scenario, runs: runs)
        } else if let runs {
            printSummary(
                of: (0..<runs).map { simulator.run(seed: seed &+ UInt64($0), stopAtDecision: true) }, runs: runs)
        } else {
            printTimeline(simulator.run(seed: seed), route: chosen)
        }
    }

    private func printTimeline(_ outcome: RolloutSimulator.Outcome, route: RouteDefinition) {
        let rows = outcome.decisions.map { decision in
            [
                Self.clock(decision.at), decision.transition.to.summary,
                Self.weights(decision.transition.weights, order: route.versions.map(\.name)),
                decision.transition.reason,
            ]
        }
        let initial = RolloutStatus.initial(for: route)
        let start = [
            "0:00", initial.summary,
            Self.weights(initial.weights(policy: route.policy), order: route.versions.map(\.name)), "rollout starts",
        ]
        print(TextTable.render(header: ["time", "state", "weights", "reason"], rows: [start] + rows))
        let served =
            "canary served \(outcome.requests.canary) of \(outcome.requests.canary + outcome.requests.stable) requests"
        switch (outcome.final.phase, outcome.decidedAt) {
        case (.promoted, let at?): print("summary: promoted after \(Self.clock(at)); \(served)")
        case (.rolledBack, let at?): print("summary: rolled back after \(Self.clock(at)); \(served)")
        default: print("summary: undecided at the end of the scenario (\(outcome.final.summary)); \(served)")
        }
    }

    private func printSummary(of outcomes: [RolloutSimulator.Outcome], runs: Int) {
        let promoted = outcomes.filter(\.endedPromoted)
        let rolledBack = outcomes.filter(\.endedRolledBack)
        let undecided = runs - promoted.count - rolledBack.count
        func share(_ count: Int) -> String { "\(count)/\(runs) (\(Format.percent(Double(count) / Double(runs))))" }
        func times(_ list: [RolloutSimulator.Outcome]) -> String {
            let sorted = list.compactMap(\.decidedAt).sorted()
            guard !sorted.isEmpty else { return "-" }
            return
                "median \(Self.clock(sorted[sorted.count / 2])), p90 \(Self.clock(sorted[min(sorted.count - 1, sorted.count * 9 / 10)]))"
        }
        print("runs: \(runs) (seeds \(seed)…\(seed &+ UInt64(runs - 1)))")
        print("promoted:    \(share(promoted.count))   time to promote: \(times(promoted))")
        print("rolled back: \(share(rolledBack.count))   time to roll back: \(times(rolledBack))")
        let held = outcomes.filter { $0.final.phase == .paused }.count
        print("undecided:   \(share(undecided))   of which still held (paused) at the end: \(held)")
    }

    /// The same seeds through both judges, one row each.
    private func printComparison(route: RouteDefinition, scenario: Scenario, runs: Int) {
        var thresholds = route
        thresholds.policy.judge = .thresholds
        var sequential = route
        sequential.policy.judge = .sequential(route.policy.sequential ?? SequentialPolicy())
        var rows: [[String]] = []
        for (name, variant) in [("thresholds", thresholds), ("sequential", sequential)] {
            let simulator = RolloutSimulator(route: variant, scenario: scenario)
            let outcomes = (0..<runs).map { simulator.run(seed: seed &+ UInt64($0), stopAtDecision: true) }
            let rolledBack = outcomes.filter(\.endedRolledBack)
            let promoted = outcomes.filter(\.endedPromoted)
            rows.append([
                name,
                "\(rolledBack.count)/\(runs) (\(Format.percent(Double(rolledBack.count) / Double(runs))))",
                Self.quantiles(rolledBack),
                "\(promoted.count)/\(runs)",
                Self.quantiles(promoted),
                "\(runs - rolledBack.count - promoted.count)",
            ])
        }
        print("runs: \(runs) per judge (seeds \(seed)…\(seed &+ UInt64(runs - 1)))")
        print(
            TextTable.render(
                header: [
                    "judge", "rolled back", "to roll back (median / p90)", "promoted", "to promote (median / p90)",
                    "undecided",
                ], rows: rows))
    }

    static func quantiles(_ outcomes: [RolloutSimulator.Outcome]) -> String {
        let sorted = outcomes.compactMap(\.decidedAt).sorted()
        guard !sorted.isEmpty else { return "-" }
        return "\(clock(sorted[sorted.count / 2])) / \(clock(sorted[min(sorted.count - 1, sorted.count * 9 / 10)]))"
    }

    static func describe(_ route: RouteDefinition, scenario: Scenario) -> String {
        let policy = route.policy
        let steps = policy.steps.map { $0.shadow ? "shadow" : Format.weight($0.weight) + ($0.pause ? " (pause)" : "") }
            .joined(separator: ", ")
        var checks = policy.checks.map(CheckText.describe).joined(separator: "; ")
        if let sequential = policy.sequential {
            func text(_ test: SequentialPolicy.LatencyTest?) -> String {
                switch test ?? .off {
                case .off: "off"
                case .slowEvents(let threshold?): "slow > \(Format.milliseconds(threshold))"
                case .slowEvents(nil): "slow > stable p99 (learned)"
                }
            }
            var tests = "latency \(text(sequential.latency))"
            if route.llm != nil { tests += ", ttft \(text(sequential.ttft)), tpot \(text(sequential.tpot))" }
            let written = checks.isEmpty ? "" : "; and per interval: \(checks)"
            checks =
                "sequential judge, α=\(sequential.alpha), ratios \(sequential.ratios.map { Format.decimal($0, places: 1) }.joined(separator: ",")), r0 \(sequential.r0), \(tests)\(written)"
        }
        return """
            route \(route.name): steps [\(steps)], interval \(DurationText.format(policy.interval)), warmup \(DurationText.format(policy.warmup)), \
            min_requests \(policy.minRequests), failure_limit \(policy.failureLimit), promote \(policy.promote.rawValue)
            checks: \(checks)
            scenario: \(scenario.phases.count) phase\(scenario.phases.count == 1 ? "" : "s"), \(clock(scenario.totalDuration)) of virtual time
            """
    }

    static func clock(_ duration: Duration) -> String {
        let total = Int(duration.components.seconds)
        let seconds = total % 60
        return "\(total / 60):" + (seconds < 10 ? "0" : "") + "\(seconds)"
    }

    static func weights(_ weights: [String: Double], order: [String]) -> String {
        order.compactMap { name in weights[name].map { "\(name)=\(Format.weight($0))" } }.joined(separator: " ")
    }
}
