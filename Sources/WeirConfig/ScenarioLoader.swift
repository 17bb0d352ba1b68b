import Foundation
import WeirCore
import Yams

/// Reads a `weir simulate` scenario file (YAML), with the same line-accurate errors as the config.
///
/// ```yaml
/// route: fraud                 # optional: the route to simulate (default: the first with a canary)
/// phases:
///   - duration: 10m
///     rps: 200                 # whole route
///     stable: { error_rate: 0.01, latency_p50: 20ms, latency_p99: 80ms }
///     canary: { error_rate: 0.06, latency_p50: 20ms, latency_p99: 80ms }   # default: as stable
///     # also: slow_share: 0.03, slow_extra: 1s   (3 % of requests take 1 s longer)
///     # shadow steps: disagreement: 0.05 — share of answers differing from the stable's (the
///     #   stable's own is its noise with itself)
///     # an LLM version (any of these makes every response a stream; the canary's default to the stable's):
///     #   ttft_p50: 200ms, ttft_p99: 800ms, tpot_p50: 20ms, tpot_p99: 50ms, output_tokens: 200,
///     #   length_share: 0.02, stream_error_rate: 0
///     pinned_share: 0.1        # optional: share pinned to the canary by an operator (never judged)
///     reload: true             # optional: the config is reloaded as this phase begins
/// ```
public enum ScenarioLoader {
    /// A parsed scenario and the route it names, if any.
    public struct Loaded: Sendable {
        public var scenario: Scenario
        public var route: String?
    }

    public static func load(path: String) throws(ConfigErrors) -> Loaded {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigErrors([
                ConfigError(file: path, line: 0, column: 0, path: "", message: "cannot read the scenario file")
            ])
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws(ConfigErrors) -> Loaded {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors([
                ConfigError(file: file, line: 0, column: 0, path: "", message: "not valid YAML: \(error)")
            ])
        }
        var reader = YAMLReader(file: file)
        guard let root, let fields = reader.mapping(root, "", allowed: ["route", "phases"]) else {
            if reader.errors.isEmpty { reader.fail(nil, "", "the scenario is empty; expected 'phases'") }
            throw ConfigErrors(reader.errors)
        }
        let route = fields["route"].flatMap { reader.string($0, "route") }
        var phases: [Scenario.Phase] = []
        if let phasesNode = fields["phases"], let items = reader.sequence(phasesNode, "phases", of: "phases") {
            for (index, item) in items.enumerated() {
                if let phase = phase(item, YAMLReader.index("phases", index), &reader) { phases.append(phase) }
            }
            if items.isEmpty { reader.fail(phasesNode, "phases", "expected at least one phase") }
        } else if fields["phases"] == nil {
            reader.fail(root, "phases", "missing; expected a list of phases")
        }
        guard reader.errors.isEmpty else { throw ConfigErrors(reader.errors) }
        return Loaded(scenario: Scenario(phases: phases), route: route)
    }

    private static func phase(_ node: Node, _ path: String, _ reader: inout YAMLReader) -> Scenario.Phase? {
        guard
            let fields = reader.mapping(
                node, path, allowed: ["duration", "rps", "stable", "canary", "pinned_share", "reload"])
        else {
            return nil
        }
        guard let durationNode = fields["duration"], let rpsNode = fields["rps"], let stableNode = fields["stable"]
        else {
            reader.fail(node, path, "a phase needs duration, rps and stable")
            return nil
        }
        let duration = reader.duration(durationNode, YAMLReader.join(path, "duration"))
        if let duration, duration < .seconds(1) {
            reader.fail(durationNode, YAMLReader.join(path, "duration"), "expected at least 1s")
        }
        let rps = reader.number(rpsNode, YAMLReader.join(path, "rps"))
        if let rps, !(0...1_000_000).contains(rps) {
            reader.fail(rpsNode, YAMLReader.join(path, "rps"), "expected 0 to 1000000 requests per second")
        }
        let stable = behavior(stableNode, YAMLReader.join(path, "stable"), &reader)
        let canary =
            fields["canary"].map { behavior($0, YAMLReader.join(path, "canary"), &reader, llmBase: stable?.llm) }
            ?? stable
        guard let duration, let rps, let stable, let canary else { return nil }
        var phase = Scenario.Phase(duration: duration, rps: rps, stable: stable, canary: canary)
        if let node = fields["pinned_share"], let share = reader.number(node, YAMLReader.join(path, "pinned_share")) {
            if (0...1).contains(share) {
                phase.pinnedShare = share
            } else {
                reader.fail(node, YAMLReader.join(path, "pinned_share"), "expected a share from 0 to 1")
            }
        }
        if let node = fields["reload"], let reload = reader.bool(node, YAMLReader.join(path, "reload")) {
            phase.reload = reload
        }
        return phase
    }

    static let llmKeys = [
        "ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99", "output_tokens", "length_share", "stream_error_rate",
    ]

    private static func behavior(
        _ node: Node, _ path: String, _ reader: inout YAMLReader, llmBase: Scenario.LLMBehavior? = nil
    ) -> Scenario.VersionBehavior? {
        guard
            let fields = reader.mapping(
                node, path, allowed: ["error_rate", "latency_p50", "latency_p99", "slow_share", "slow_extra", "disagreement"] + llmKeys)
        else {
            return nil
        }
        var behavior = Scenario.VersionBehavior()
        behavior.llm = llmBehavior(fields, path, &reader, base: llmBase)
        if let node = fields["disagreement"], let share = reader.number(node, YAMLReader.join(path, "disagreement")) {
            if (0...1).contains(share) {
                behavior.disagreement = share
            } else {
                reader.fail(node, YAMLReader.join(path, "disagreement"), "expected a share from 0 to 1")
            }
        }
        if let node = fields["error_rate"], let rate = reader.number(node, YAMLReader.join(path, "error_rate")) {
            if (0...1).contains(rate) {
                behavior.errorRate = rate
            } else {
                reader.fail(node, YAMLReader.join(path, "error_rate"), "expected a probability from 0 to 1")
            }
        }
        if let node = fields["latency_p50"], let value = reader.duration(node, YAMLReader.join(path, "latency_p50")) {
            behavior.latencyP50 = Self.seconds(value)
            behavior.latencyP99 = max(behavior.latencyP99, behavior.latencyP50)
        }
        if let node = fields["latency_p99"], let value = reader.duration(node, YAMLReader.join(path, "latency_p99")) {
            if Self.seconds(value) < behavior.latencyP50 {
                reader.fail(node, YAMLReader.join(path, "latency_p99"), "must not be below latency_p50")
            }
            behavior.latencyP99 = Self.seconds(value)
        }
        if let node = fields["slow_share"], let share = reader.number(node, YAMLReader.join(path, "slow_share")) {
            if (0...1).contains(share) {
                behavior.slowShare = share
            } else {
                reader.fail(node, YAMLReader.join(path, "slow_share"), "expected a share from 0 to 1")
            }
        }
        if let node = fields["slow_extra"], let value = reader.duration(node, YAMLReader.join(path, "slow_extra")) {
            behavior.slowExtra = Self.seconds(value)
        }
        return behavior
    }

    /// The LLM part of a behaviour: `base` (the stable's, for a canary) with the keys given here.
    private static func llmBehavior(
        _ fields: [String: Node], _ path: String, _ reader: inout YAMLReader, base: Scenario.LLMBehavior?
    ) -> Scenario.LLMBehavior? {
        guard base != nil || llmKeys.contains(where: { fields[$0] != nil }) else { return nil }
        var llm = base ?? Scenario.LLMBehavior()
        func duration(_ key: String) -> Double? {
            fields[key].flatMap { reader.duration($0, YAMLReader.join(path, key)) }.map(Self.seconds)
        }
        func share(_ key: String) -> Double? {
            guard let node = fields[key], let value = reader.number(node, YAMLReader.join(path, key)) else { return nil }
            guard (0...1).contains(value) else {
                reader.fail(node, YAMLReader.join(path, key), "expected a share from 0 to 1")
                return nil
            }
            return value
        }
        if let value = duration("ttft_p50") {
            llm.ttftP50 = value
            llm.ttftP99 = max(llm.ttftP99, value)
        }
        if let value = duration("ttft_p99") { llm.ttftP99 = max(value, llm.ttftP50) }
        if let value = duration("tpot_p50") {
            llm.tpotP50 = value
            llm.tpotP99 = max(llm.tpotP99, value)
        }
        if let value = duration("tpot_p99") { llm.tpotP99 = max(value, llm.tpotP50) }
        if let node = fields["output_tokens"], let value = reader.number(node, YAMLReader.join(path, "output_tokens")) {
            if value >= 1 && value <= 1_000_000 {
                llm.outputTokens = value
            } else {
                reader.fail(node, YAMLReader.join(path, "output_tokens"), "expected 1 to 1000000 tokens")
            }
        }
        if let value = share("length_share") { llm.lengthShare = value }
        if let value = share("stream_error_rate") { llm.streamErrorRate = value }
        return llm
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
