/// The sequential judge of one rollout: error-provenance e-processes on errors and on slow
/// responses — and, on LLM routes, on slow first tokens and slow token rates — combined by their average (never multiplied: they see the same requests), plus the
/// reverse test that shows a canary safe. Fed one second of traffic at a time with the canary
/// weight in force. The rollback tests are never reset while the rollout lasts; the safety proof
/// starts again at each step (`startStep`), so it speaks of the weight in force, and it is fed
/// only seconds without shared trouble: when the stable's own error rate is far above its
/// baseline (a dependency both versions use is failing), a ratio near 1 says nothing about the
/// canary, and the rollout holds instead of advancing.
public struct SequentialJudge: Sendable {
    public let policy: SequentialPolicy
    public private(set) var errors: ErrorProvenanceEProcess
    /// Slow-response test; nil when latency is not judged.
    public private(set) var latency: SlowEventTest?
    /// Slow time-to-first-token test (LLM routes); nil when not judged.
    public private(set) var ttft: SlowEventTest?
    /// Slow time-per-output-token test (LLM routes); nil when not judged.
    public private(set) var tpot: SlowEventTest?
    public private(set) var safety: NoWorseThanEProcess
    /// The stable's values while a threshold is learned, per slow test (latency, TTFT, TPOT).
    private var learning: [LatencyHistogram] = []
    /// The canary weight (percent) of the last observation, for reasons.
    public private(set) var lastWeightPercent: Double = 0
    /// The stable's errors and requests over trouble-free seconds: its baseline error rate.
    public private(set) var baseline = Tally()
    /// The stable's last seconds, newest last, for the shared-trouble test.
    private var recent: [Tally] = []
    /// Whether the last observed seconds show shared trouble.
    public private(set) var sharedTrouble = false

    /// Errors out of requests.
    public struct Tally: Sendable, Hashable, Codable {
        public var errors: UInt64 = 0
        public var requests: UInt64 = 0
        public init(errors: UInt64 = 0, requests: UInt64 = 0) {
            self.errors = errors
            self.requests = requests
        }
        public var rate: Double { requests == 0 ? 0 : Double(errors) / Double(requests) }

        init(summing tallies: [Tally]) {
            self.init()
            for tally in tallies {
                errors += tally.errors
                requests += tally.requests
            }
        }
    }

    /// Seconds of stable traffic the shared-trouble test looks at.
    static let troubleSeconds = 5
    /// Stable requests the baseline needs before trouble can be told from it.
    static let baselineRequests: UInt64 = 200

    public init(policy: SequentialPolicy) {
        self.policy = policy
        errors = ErrorProvenanceEProcess(ratios: policy.ratios)
        safety = NoWorseThanEProcess(r0: policy.r0)
        latency = Self.test(policy.latency, policy)
        ttft = Self.test(policy.ttft ?? .off, policy)
        tpot = Self.test(policy.tpot ?? .off, policy)
    }

    private static func test(_ setting: SequentialPolicy.LatencyTest, _ policy: SequentialPolicy) -> SlowEventTest? {
        guard case .slowEvents(let threshold) = setting else { return nil }
        return SlowEventTest(ratios: policy.ratios, threshold: threshold)
    }

    /// Slow-response test (total latency); nil when latency is not judged.
    public var slow: ErrorProvenanceEProcess? { latency?.process }
    /// The slow-response threshold in seconds once fixed.
    public var slowThreshold: Double? { latency?.threshold }

    /// The active slow tests with what each reads, for feeding and for reasons.
    private var slowTests: [(name: String, test: SlowEventTest)] {
        [("slow responses", latency), ("slow first tokens", ttft), ("slow token rates", tpot)].compactMap { name, test in
            test.map { (name, $0) }
        }
    }

    /// The e-value that rolls back: 1/α.
    public var rejectionThreshold: Double { 1 / policy.alpha }

    /// Adds one second of traffic seen at a canary weight of `weightPercent`.
    /// `forSafety: false` keeps the slice out of the safety proof: requests routed under an earlier
    /// weight say nothing about the canary at the step's.
    public mutating func observe(
        canary: RequestStats, stable: RequestStats, weightPercent: Double, errorKinds: Set<ErrorKind>,
        forSafety: Bool = true
    ) {
        lastWeightPercent = weightPercent
        let rho = weightPercent / 100
        let canaryErrors = canary.errors(countingAs: errorKinds)
        let stableErrors = stable.errors(countingAs: errorKinds)
        let second = Tally(errors: stableErrors, requests: stable.requests)
        // Trouble is told from the seconds before this one, so skipping a second is decided
        // before it is seen (a predictable bet of nothing): every test stays an e-process. In
        // trouble the evidence is frozen — a shared outage says nothing about the canary, and
        // feeding it would bury the rollback test under thousands of events at a ratio near 1.
        sharedTrouble = Self.isTrouble(recent: recent, baseline: baseline, floor: policy.troubleErrorRate)
        recent.append(second)
        if recent.count > Self.troubleSeconds { recent.removeFirst(recent.count - Self.troubleSeconds) }
        if !Self.isTrouble(recent: recent, baseline: baseline, floor: policy.troubleErrorRate) {
            baseline.errors += second.errors
            baseline.requests += second.requests
        }
        guard !sharedTrouble else { return }
        errors.observe(canary: canaryErrors, stable: stableErrors, rho: rho)
        if forSafety { safety.observe(canary: canaryErrors, stable: stableErrors, rho: rho) }
        if learning.isEmpty { learning = Array(repeating: LatencyHistogram(), count: 3) }
        latency?.observe(canary: canary.total, stable: stable.total, rho: rho, learning: &learning[0])
        ttft?.observe(canary: canary.llm?.ttft, stable: stable.llm?.ttft, rho: rho, learning: &learning[1])
        tpot?.observe(canary: canary.llm?.tpot, stable: stable.llm?.tpot, rho: rho, learning: &learning[2])
    }

    /// Starts the safety proof again: evidence gathered at another weight (or before a hold)
    /// does not show the canary safe at this one. The rollback tests keep their history.
    public mutating func startStep() {
        safety = NoWorseThanEProcess(r0: policy.r0)
    }

    /// Shared trouble over `recent` seconds (at least 50 stable requests). Until the baseline has
    /// `baselineRequests`, the stable failing clearly above `floor` (3 standard errors) is trouble
    /// — a dependency everyone uses is failing from the start; after that, failing far above its
    /// own baseline is: at least 2 points and twice the baseline above it, and more than 4
    /// standard errors. Ordinary noise at any load stays below either bar.
    static func isTrouble(recent: [Tally], baseline: Tally, floor: Double) -> Bool {
        let window = Tally(summing: recent)
        guard window.requests >= 50 else { return false }
        let n = Double(window.requests)
        guard baseline.requests >= baselineRequests else {
            return window.rate >= floor + 3 * (floor * (1 - floor) / n).squareRoot()
        }
        let p0 = max(baseline.rate, 0.5 / Double(baseline.requests))
        let excess = window.rate - p0
        return excess > max(0.02, 2 * p0) && excess > 4 * (p0 * (1 - p0) / n).squareRoot()
    }

    /// `stable errors 25.1% against a baseline of 1.0%`, while in shared trouble.
    public var troubleDescription: String {
        let window = Tally(summing: recent)
        return
            "shared trouble: stable errors \(Format.percent(window.rate)) against a baseline of \(Format.percent(baseline.rate)); holding"
    }

    /// The combined e-value: the mean of the active tests' e-values (a mean of e-values is one).
    public var eValue: Double {
        let tests = slowTests
        return tests.reduce(errors.eValue) { $0 + $1.test.eValue } / Double(1 + tests.count)
    }

    /// Why to roll back, once the evidence is strong enough; nil before.
    public var rollbackReason: String? {
        eValue >= rejectionThreshold ? evidence(comparison: "≥") : nil
    }

    /// Whether the canary is shown no worse than r₀ × the stable on errors.
    public var safetyShown: Bool { safety.eValue >= rejectionThreshold }

    /// `e=143.2 ≥ 100 (α=0.01): canary errors 31 of 44 at weight 5%`, naming the test that weighs most.
    public func evidence(comparison: String? = nil) -> String {
        let sign = comparison ?? (eValue >= rejectionThreshold ? "≥" : "<")
        let head =
            "e=\(Format.decimal(min(eValue, 1e12), places: 1)) \(sign) \(Format.decimal(rejectionThreshold, places: 0)) (α=\(policy.alpha))"
        let weight = "at weight \(Format.weight(lastWeightPercent))%"
        if let strongest = slowTests.max(by: { $0.test.eValue < $1.test.eValue }),
            strongest.test.eValue > errors.eValue, let threshold = strongest.test.threshold
        {
            let process = strongest.test.process
            return
                "\(head): canary \(strongest.name) (> \(Format.milliseconds(threshold))) \(process.canaryEvents) of \(process.totalEvents) \(weight)"
        }
        return "\(head): canary errors \(errors.canaryEvents) of \(errors.totalEvents) \(weight)"
    }
}

extension SequentialJudge {
    /// What a judge has learned, as the store keeps it so a restart continues the same test
    /// (CONTRACT §8): resetting it would forget evidence and, over many restarts, spend α again.
    /// The names tie it to one rollout; a judge still learning its slow threshold starts that
    /// learning over.
    public struct Snapshot: Sendable, Hashable, Codable {
        public var canary: String
        public var stable: String
        public var errors: ErrorProvenanceEProcess
        public var slow: ErrorProvenanceEProcess?
        public var safety: NoWorseThanEProcess
        public var slowThreshold: Double?
        public var lastWeightPercent: Double
        public var canaryRequestsInStep: UInt64
        public var baseline: Tally?
        /// The slow-token tests of an LLM route (absent in snapshots of earlier builds).
        public var ttft: SlowEventTest?
        public var tpot: SlowEventTest?
    }

    /// The judge's state for `snapshot`.
    public func snapshot(canary: String, stable: String, canaryRequestsInStep: UInt64) -> Snapshot {
        Snapshot(
            canary: canary, stable: stable, errors: errors, slow: slow, safety: safety, slowThreshold: slowThreshold,
            lastWeightPercent: lastWeightPercent, canaryRequestsInStep: canaryRequestsInStep, baseline: baseline,
            ttft: ttft, tpot: tpot)
    }

    /// A judge continuing `snapshot`; nil when it was made under another policy (other ratios,
    /// r₀ or slow tests), which then starts afresh.
    public init?(policy: SequentialPolicy, restoring snapshot: Snapshot) {
        self.init(policy: policy)
        guard snapshot.errors.ratios == policy.ratios, snapshot.safety.r0 == policy.r0,
            (snapshot.slow == nil) == (latency == nil), snapshot.slow.map({ $0.ratios == policy.ratios }) ?? true,
            Self.matches(snapshot.ttft, ttft), Self.matches(snapshot.tpot, tpot)
        else { return nil }
        if case .slowEvents(let fixed?) = policy.latency, snapshot.slowThreshold != fixed { return nil }
        errors = snapshot.errors
        latency = snapshot.slow.map { SlowEventTest(process: $0, threshold: snapshot.slowThreshold) }
        ttft = snapshot.ttft
        tpot = snapshot.tpot
        safety = snapshot.safety
        lastWeightPercent = snapshot.lastWeightPercent
        baseline = snapshot.baseline ?? Tally()
    }

    /// Whether a stored slow test continues the one this policy asks for: both absent, or the same
    /// ratios and, for a fixed threshold, the same threshold.
    private static func matches(_ stored: SlowEventTest?, _ fresh: SlowEventTest?) -> Bool {
        switch (stored, fresh) {
        case (nil, nil): return true
        case (let stored?, let fresh?):
            return stored.process.ratios == fresh.process.ratios && (fresh.threshold == nil || stored.threshold == fresh.threshold)
        default: return false
        }
    }
}
