import Foundation
import WeirAdminModels

/// The human-readable rendering of routes and events.
enum StatusTable {
    static func render(_ route: RouteStatusModel) -> String {
        var lines: [String] = []
        let steps = route.stepWeights.enumerated().map { index, weight in
            // Only a shadow step has no weight.
            let text = weight == 0 ? "shadow" : percent(weight)
            return index == route.step && (route.state == "progressing" || route.state == "paused") ? "[\(text)]" : text
        }.joined(separator: " › ")
        lines.append("\(route.name)  \(route.state.uppercased())  steps \(steps)  weights \(weights(route.weights))")
        let versionNames = route.versions.keys.sorted { lhs, rhs in
            (lhs == route.stable ? 0 : lhs == route.canary ? 1 : 2, lhs) < (
                rhs == route.stable ? 0 : rhs == route.canary ? 1 : 2, rhs
            )
        }
        let rows = versionNames.map { name -> [String] in
            let version = route.versions[name]!
            let role = name == route.stable ? "stable" : name == route.canary ? "canary" : ""
            return [
                "  " + name, role, decimal(version.rps, 1), "\(version.requests)", "\(version.errors)",
                decimal(version.errorRate * 100, 2) + "%", millis(version.latencyMs.p50), millis(version.latencyMs.p99),
                version.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
            ]
        }
        lines.append(
            render(
                header: ["  VERSION", "ROLE", "RPS", "REQUESTS", "ERRORS", "ERROR%", "P50", "P99", "METADATA"],
                rows: rows))
        if let llmTable = renderLLM(route, versions: versionNames) { lines.append(llmTable) }
        if let shadow = route.shadow { lines.append(render(shadow: shadow)) }
        lines.append("  window: last \(Int(route.windowSeconds))s")
        if let verdict = route.lastVerdict { lines.append("  last verdict: \(verdict.result): \(verdict.reason)") }
        if let event = route.lastEvent {
            lines.append("  last decision: \(event.at) \(event.actor) \(event.from) -> \(event.to): \(event.reason)")
        }
        if let disagreement = route.disagreement { lines.append("  CONFIG DISAGREEMENT: \(disagreement)") }
        return lines.joined(separator: "\n")
    }

    /// The LLM columns (CONTRACT §10), for versions that served LLM answers in the window; nil when none did.
    static func renderLLM(_ route: RouteStatusModel, versions: [String]) -> String? {
        let rows = versions.compactMap { name -> [String]? in
            guard let llm = route.versions[name]?.llm else { return nil }
            let finishes = llm.finishReasons.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
                .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return [
                "  " + name, "\(llm.responses)", millis(llm.ttftMs.p50), millis(llm.ttftMs.p95), millis(llm.tpotMs.p50),
                llm.tokensPerSecond.map { decimal($0, 1) } ?? "-", decimal(llm.outputTokensMean, 1),
                "\(llm.streamErrors)", finishes,
            ]
        }
        guard !rows.isEmpty else { return nil }
        return render(
            header: ["  LLM", "ANSWERS", "TTFT50", "TTFT95", "TPOT50", "TOK/S", "TOKENS", "CUT", "FINISH"], rows: rows)
    }

    /// The shadow's line (CONTRACT §11): agreement against the noise floor, κ, KS, and the tests.
    static func render(shadow: ShadowStatusModel) -> String {
        func share(_ value: Double?) -> String { value.map { decimal($0 * 100, 2) + "%" } ?? "-" }
        var parts = [
            "  shadow \(shadow.version): \(shadow.comparisons) compared, agreement \(share(shadow.agreement))",
            "noise floor \(share(shadow.noiseAgreement))", "excess \(share(shadow.excess))",
        ]
        if let kappa = shadow.kappa { parts.append("κ \(decimal(kappa, 3))") }
        if let ks = shadow.ks { parts.append("KS \(decimal(ks, 3))") }
        if let psi = shadow.psi { parts.append("PSI \(decimal(psi, 3))") }
        parts.append("errors \(shadow.errors), shed \(shadow.shed)")
        var text = parts.joined(separator: " · ")
        text += "\n  shadow tests: differs e=\(decimal(shadow.excessEValue, 1)), agrees e=\(decimal(shadow.agreementEValue, 1))"
        if !shadow.flips.isEmpty {
            text += "\n  top flips: " + shadow.flips.prefix(5).map { "\($0.stable)→\($0.shadow) \($0.count)" }
                .joined(separator: ", ")
        }
        return text
    }

    /// The fleet's instances (fleet mode), the judging one marked.
    static func render(instances: [InstanceModel]) -> String {
        let rows = instances.map { instance in
            [
                "  " + instance.id + (instance.this ? " (this)" : ""), instance.address, instance.lastSeen,
                instance.judge ? "judge" : "", instance.alive ? "alive" : "GONE",
            ]
        }
        let alive = instances.filter(\.alive).count
        return "fleet: \(alive) live instance\(alive == 1 ? "" : "s"), figures summed over all of them\n"
            + render(header: ["  INSTANCE", "ADMIN", "LAST SEEN (UTC)", "ROLE", "STATE"], rows: rows)
    }

    /// A warning while the rollout store fails; nil while it is up.
    static func render(store: StoreHealthModel) -> String? {
        guard !store.up else { return nil }
        return
            "STORE FAILING since \(store.downSince ?? "?"): \(store.error ?? "unknown error")\n  \(store.pendingEvents) event(s) in force wait to be written; rollback and pause still work, moves toward a canary are refused"
    }

    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }

    static func weights(_ weights: [String: Double]) -> String {
        weights.sorted { $0.key < $1.key }.map { "\($0.key)=\(percent($0.value))" }.joined(separator: " ")
    }

    static func percent(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))%" : String(format: "%.2g%%", value)
    }

    static func decimal(_ value: Double, _ places: Int) -> String { String(format: "%.\(places)f", value) }

    static func millis(_ value: Double?) -> String {
        guard let value else { return "-" }
        return value >= 100 ? String(format: "%.0fms", value) : String(format: "%.1fms", value)
    }

    static func now() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: Date())
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}
