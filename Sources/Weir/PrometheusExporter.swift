import Prometheus
import WeirCore
import WeirProxy
import WeirStore

/// The `/metrics` series of CONTRACT §6, kept in a swift-prometheus registry. Request counts and
/// latencies are fed from the collected per-second measurements — off the request path — and the
/// rollout gauges are set from the controller at scrape time.
public final class PrometheusExporter: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// Histogram buckets that resolve 1 ms to 10 s.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public init() {}

    // The series of CONTRACT §6 (descriptors are not Sendable, so they are made on use).
    static var requests: MetricNameDescriptor {
        series("requests", "total", "Requests by route, version and outcome code.")
    }
    static var pinnedRequests: MetricNameDescriptor {
        series("pinned_requests", "total", "Requests pinned to a version by an override (never judged), by outcome code.")
    }
    static var duration: MetricNameDescriptor {
        series("request_duration", "seconds", "Time to the last response byte.")
    }
    static var upstreamErrors: MetricNameDescriptor { series("upstream_errors", "total", "Upstream failures by kind.") }
    static var canaryWeight: MetricNameDescriptor { series("canary", "weight", "Current traffic weight in percent.") }
    static var rolloutState: MetricNameDescriptor {
        series("rollout", "state", "1 for the route's current rollout state.")
    }
    static var transitions: MetricNameDescriptor {
        series("rollout_transitions", "total", "Rollout transitions by target state.")
    }
    static var analyses: MetricNameDescriptor { series("analysis", "total", "Judged analysis windows by result.") }
    static var webhooks: MetricNameDescriptor {
        series("webhook_deliveries", "total", "Webhook attempts by result: delivered, failed (retried), abandoned, tls_refused (also counted in failed).")
    }

    static var storeUp: MetricNameDescriptor {
        series("store", "up", "1 while the rollout store takes writes; 0 while it fails (rollbacks still apply).")
    }
    static var storePending: MetricNameDescriptor {
        series("store_pending_events", "", "Rollout events in force that the store has not taken yet.")
    }
    static var fleetInstances: MetricNameDescriptor {
        series("fleet_instances", "", "Fleet mode: instances heard from in the last 5 s (this one included).")
    }
    static var fleetJudge: MetricNameDescriptor {
        series("fleet_judge", "", "Fleet mode: 1 while this instance judges the fleet's rollouts.")
    }

    static var llmTTFT: MetricNameDescriptor {
        series("llm_ttft", "seconds", "LLM responses: time to the first content chunk.")
    }
    static var llmTPOT: MetricNameDescriptor {
        series("llm_tpot", "seconds", "LLM responses: time per output token after the first.")
    }
    static var llmTokens: MetricNameDescriptor {
        series("llm_tokens", "total", "LLM tokens by direction: output (generated) and input (prompt, when usage is sent).")
    }
    static var llmFinish: MetricNameDescriptor {
        series("llm_finish", "total", "LLM responses by finish_reason (none: the stream ended without one).")
    }
    /// Time-to-first-token buckets: 10 ms to 30 s.
    static let ttftBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    /// Time-per-output-token buckets: 1 ms to 1 s.
    static let tpotBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1]

    static var shadowComparisons: MetricNameDescriptor {
        series("shadow_comparisons", "total", "Shadow copies by result: agree, differ, error (failed or unreadable), shed.")
    }
    static var shadowAgreement: MetricNameDescriptor {
        series("shadow_agreement", "", "Share of compared requests where the shadow agreed with the stable (noise: the stable with itself).")
    }
    static var shadowKS: MetricNameDescriptor {
        series("shadow_ks", "", "Kolmogorov-Smirnov statistic between the stable's and the shadow's recent scores.")
    }

    static var upstreamConnections: MetricNameDescriptor {
        series("upstream_connections", "", "Connections to each upstream by state: open (all), idle (pooled HTTP/1.1).")
    }

    /// `weir_<name>_<unit>` with its help text.
    static func series(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "weir", metricName: name, unitName: unit, helpText: help)
    }

    /// Adds collected seconds of traffic.
    public func consume(_ seconds: [(SeriesKey, RequestStats)]) {
        for (key, stats) in seconds where stats.requests > 0 || stats.clientFaults > 0 {
            let labels = [("route", key.route), ("version", key.version)]
            // Pinned requests go to a family of their own, so no dashboard or alert mixes them in.
            countCodes(stats, into: key.pinned ? Self.pinnedRequests : Self.requests, labels: labels)
            if key.pinned { continue }
            for kind in ErrorKind.allCases {
                let count = stats.errors(of: kind)
                if count > 0, let upstreamKind = Self.upstreamKind(kind) {
                    registry.makeCounter(descriptor: Self.upstreamErrors, labels: labels + [("kind", upstreamKind)])
                        .increment(by: Int64(count))
                }
            }
            record(stats.total, into: Self.duration, labels: labels, buckets: Self.buckets)
            if let llm = stats.llm { consume(llm, labels: labels) }
        }
    }

    /// Adds a second's LLM measurements: TTFT and TPOT histograms, tokens and finish reasons.
    private func consume(_ llm: LLMStats, labels: [(String, String)]) {
        record(llm.ttft, into: Self.llmTTFT, labels: labels, buckets: Self.ttftBuckets)
        record(llm.tpot, into: Self.llmTPOT, labels: labels, buckets: Self.tpotBuckets)
        for (direction, count) in [("output", llm.outputTokens), ("input", llm.inputTokens)] where count > 0 {
            registry.makeCounter(descriptor: Self.llmTokens, labels: labels + [("direction", direction)])
                .increment(by: Int64(clamping: count))
        }
        for reason in FinishReason.allCases where llm.finishes(reason) > 0 {
            registry.makeCounter(descriptor: Self.llmFinish, labels: labels + [("reason", reason.name)])
                .increment(by: Int64(llm.finishes(reason)))
        }
    }

    /// Adds a histogram's values to a Prometheus histogram: each bucket's count recorded at the
    /// bucket's bound (1 % resolution is already lost at the edges; the bucket is what Prometheus keeps).
    private func record(
        _ values: LatencyHistogram, into family: MetricNameDescriptor, labels: [(String, String)], buckets: [Double]
    ) {
        guard values.count > 0 else { return }
        let histogram = registry.makeValueHistogram(descriptor: family, labels: labels, buckets: buckets)
        var below: UInt64 = 0
        for bound in buckets + [Double.infinity] {
            let atOrBelow = bound.isFinite ? values.count - values.count(above: bound) : values.count
            let inBucket = atOrBelow - below
            below = atOrBelow
            for _ in 0..<inBucket { histogram.record(bound.isFinite ? bound : buckets.last! * 2) }
        }
    }

    /// Adds a second's requests to `family` by outcome code.
    private func countCodes(_ stats: RequestStats, into family: MetricNameDescriptor, labels: [(String, String)]) {
        var failed: UInt64 = 0
        for kind in ErrorKind.allCases {
            let count = stats.errors(of: kind)
            guard count > 0 else { continue }
            if kind != .client { failed += count }
            registry.makeCounter(descriptor: family, labels: labels + [("code", Self.code(for: kind))])
                .increment(by: Int64(count))
        }
        if stats.requests > failed {
            registry.makeCounter(descriptor: family, labels: labels + [("code", "2xx")])
                .increment(by: Int64(stats.requests - failed))
        }
    }

    /// Sets the store's gauges at scrape time.
    public func setStoreHealth(_ health: RolloutStoreWriter.Health) {
        registry.makeGauge(descriptor: Self.storeUp).set(Double(health.up ? 1 : 0))
        registry.makeGauge(descriptor: Self.storePending).set(Double(health.pendingEvents))
    }

    /// Sets the fleet gauges (fleet mode only): live instances, and whether this one judges.
    public func setFleet(liveInstances: Int, judging: Bool) {
        registry.makeGauge(descriptor: Self.fleetInstances).set(Double(liveInstances))
        registry.makeGauge(descriptor: Self.fleetJudge).set(Double(judging ? 1 : 0))
    }

    /// Sets the rollout gauges from the controller's view.
    public func setRollouts(_ views: [RolloutController.RouteView]) {
        for view in views {
            let route = view.route.name
            let weights = view.status.weights(policy: view.route.policy)
            for version in view.route.versions {
                registry.makeGauge(
                    descriptor: Self.canaryWeight, labels: [("route", route), ("version", version.name)]
                )
                .set(to: weights[version.name] ?? 0)
            }
            for phase in RolloutPhase.allCases {
                registry.makeGauge(
                    descriptor: Self.rolloutState, labels: [("route", route), ("state", phase.rawValue)]
                )
                .set(to: phase == view.status.phase ? 1 : 0)
            }
        }
    }

    /// Counts one judged window (`success`, `failure`, `inconclusive`).
    public func verdict(route: String, result: String) {
        registry.makeCounter(descriptor: Self.analyses, labels: [("route", route), ("result", result)]).increment()
    }

    /// Sets the webhook delivery counts (read from the notifier at scrape time).
    /// Sets the upstream pool gauges (every loop's pools summed).
    public func setUpstreamConnections(_ counts: [UpstreamAddress: UpstreamConnectionCounts]) {
        for (address, count) in counts {
            for (state, value) in [("open", count.open), ("idle", count.idle)] {
                registry.makeGauge(
                    descriptor: Self.upstreamConnections, labels: [("upstream", address.description), ("state", state)]
                )
                .set(to: Double(value))
            }
        }
    }

    /// Sets a route's shadow series from its tally (at scrape time).
    public func setShadow(route: String, _ tally: ShadowTally) {
        for (result, value) in [
            ("agree", tally.comparisons - tally.differ), ("differ", tally.differ), ("error", tally.errors),
            ("shed", tally.shed),
        ] {
            let counter = registry.makeCounter(
                descriptor: Self.shadowComparisons, labels: [("route", route), ("result", result)])
            counter.reset()
            counter.increment(by: Int64(value))
        }
        for (of, value) in [("shadow", tally.agreement), ("noise", tally.noiseAgreement)] {
            if let value {
                registry.makeGauge(descriptor: Self.shadowAgreement, labels: [("route", route), ("of", of)]).set(to: value)
            }
        }
        if let ks = tally.ks { registry.makeGauge(descriptor: Self.shadowKS, labels: [("route", route)]).set(to: ks) }
    }

    public func setWebhookCounts(_ counts: WebhookNotifier.Counts) {
        for (result, value) in [
            ("delivered", counts.delivered), ("failed", counts.failedAttempts), ("abandoned", counts.abandoned),
            ("tls_refused", counts.tlsRefused),
        ] {
            let counter = registry.makeCounter(descriptor: Self.webhooks, labels: [("result", result)])
            counter.reset()
            counter.increment(by: Int64(value))
        }
    }

    /// Counts one rollout transition.
    public func transition(_ event: RolloutEvent) {
        registry.makeCounter(
            descriptor: Self.transitions, labels: [("route", event.route), ("to", event.to.rawValue)]
        )
        .increment()
    }

    public func text() -> String { registry.emitToString() }

    /// The `code` label of a failed request: the status class, or the status weir answered itself.
    static func code(for kind: ErrorKind) -> String {
        switch kind {
        case .http5xx: "5xx"
        case .http429: "429"
        case .http4xx: "4xx"
        case .connect, .reset: "502"
        case .timeout: "504"
        case .grpc: "grpc"
        case .overflow: "503"
        case .client: "client"
        case .stream: "stream"
        }
    }

    static func upstreamKind(_ kind: ErrorKind) -> String? {
        switch kind {
        case .connect: "connect"
        case .timeout: "timeout"
        case .reset: "reset"
        case .http5xx: "5xx"
        case .grpc: "grpc"
        case .overflow: "overflow"
        case .stream: "stream"
        case .http429, .http4xx, .client: nil
        }
    }
}
