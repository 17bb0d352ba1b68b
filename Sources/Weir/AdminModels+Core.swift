import Foundation
import WeirAdminModels
import WeirCore

extension EventModel {
    init(_ event: RolloutEvent) {
        self.init(
            at: EventModel.timestamp(event.at), route: event.route, from: event.from.rawValue, to: event.to.rawValue,
            fromStep: event.fromStep, toStep: event.toStep, weights: event.weights, actor: event.actor.rawValue,
            reason: event.reason, kind: event.kind.rawValue
        )
    }

    /// RFC 3339 UTC with milliseconds, as the API shows times.
    static func timestamp(_ unixMillis: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(unixMillis) / 1000))
    }
}

extension RouteStatusModel {
    init(_ view: RolloutController.RouteView) {
        let route = view.route
        let policy = route.policy
        var versions: [String: VersionStatusModel] = [:]
        for version in route.versions {
            let stats = view.window[version.name] ?? RequestStats()
            let errors = stats.errors(countingAs: policy.errors)
            let pinned = view.pinned[version.name] ?? RequestStats()
            versions[version.name] = VersionStatusModel(
                requests: stats.requests,
                errors: errors,
                errorRate: stats.errorRate(countingAs: policy.errors),
                rps: view.windowSeconds > 0 ? Double(stats.requests) / view.windowSeconds : 0,
                latencyMs: LatencyModel(stats.total),
                ttfbMs: LatencyModel(stats.firstByte),
                metadata: version.metadata,
                pinned: pinned.requests > 0
                    ? PinnedTrafficModel(requests: pinned.requests, errors: pinned.errors(countingAs: policy.errors))
                    : nil
            )
            versions[version.name]?.llm = stats.llm.map(LLMStatusModel.init)
        }
        self.init(
            name: route.name,
            state: view.status.phase.rawValue,
            step: view.status.step,
            steps: policy.steps.count,
            stepWeights: policy.steps.map(\.weight),
            stable: view.status.stable,
            canary: view.status.canary,
            weights: view.status.weights(policy: policy),
            versions: versions,
            windowSeconds: view.windowSeconds,
            lastVerdict: view.lastVerdict.map { VerdictModel(result: $0.name, reason: $0.reason) },
            lastEvent: view.lastEvent.map(EventModel.init)
        )
        disagreement = view.disagreement
    }
}

extension LLMStatusModel {
    init(_ llm: LLMStats) {
        var finishes: [String: UInt64] = [:]
        for reason in FinishReason.allCases where llm.finishes(reason) > 0 { finishes[reason.name] = llm.finishes(reason) }
        self.init(
            responses: llm.responses, ttftMs: LatencyModel(llm.ttft), tpotMs: LatencyModel(llm.tpot),
            outputTokens: llm.outputTokens, inputTokens: llm.inputTokens,
            outputTokensMean: (llm.outputTokensMean * 10).rounded() / 10,
            tokensPerSecond: llm.tokensPerSecond.map { ($0 * 10).rounded() / 10 }, finishReasons: finishes,
            streamErrors: llm.streamErrors)
    }
}

extension ShadowStatusModel {
    init(_ tally: ShadowTally, version: String) {
        func rounded(_ value: Double?) -> Double? { value.map { ($0 * 10_000).rounded() / 10_000 } }
        var flips: [FlipModel] = []
        for (from, row) in tally.flips {
            for (to, count) in row where from != to { flips.append(FlipModel(stable: from, shadow: to, count: count)) }
        }
        flips.sort { ($0.count, $1.stable, $1.shadow) > ($1.count, $0.stable, $0.shadow) }
        self.init(
            version: version, comparisons: tally.comparisons, differ: tally.differ, agreement: rounded(tally.agreement),
            noiseAgreement: rounded(tally.noiseAgreement), excess: rounded(tally.excessDisagreement),
            kappa: rounded(tally.kappa), ks: rounded(tally.ks), psi: rounded(tally.psi), errors: tally.errors,
            shed: tally.shed, excessEValue: min(tally.excessTest.eValue, 1e12),
            agreementEValue: min(tally.agreementTest.eValue, 1e12), flips: Array(flips.prefix(10)))
    }
}

extension SeriesPointModel {
    init(_ point: RouteSeries.Point) {
        let millis = LatencyModel.milliseconds
        self.init(
            second: point.second,
            versions: point.versions.mapValues {
                SeriesVersionModel(
                    requests: $0.requests, errors: $0.errors, p50Ms: millis($0.p50), p99Ms: millis($0.p99),
                    weight: $0.weight)
            },
            eValue: point.eValue.map { min($0, 1e12) })
    }
}

extension LatencyModel {
    init(_ histogram: LatencyHistogram) {
        func millis(_ percentile: Double) -> Double? { Self.milliseconds(histogram.seconds(atPercentile: percentile)) }
        self.init(p50: millis(50), p95: millis(95), p99: millis(99))
    }

    /// Seconds as milliseconds to the microsecond, as the API shows latencies.
    static func milliseconds(_ seconds: Double?) -> Double? { seconds.map { ($0 * 1_000_000).rounded() / 1000 } }
}
