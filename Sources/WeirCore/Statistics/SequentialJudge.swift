/// The sequential judge of one rollout: error-provenance e-processes on errors and on slow
/// responses, combined by their average (never multiplied: they see the same requests), plus the
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
    public private(set) var slow: ErrorProvenanceEProcess?
    public private(set) var safety: NoWorseThanEProcess
    /// The slow threshold in seconds once fixed.
    public private(set) var slowThreshold: Double?
    private var learning = LatencyHistogram()
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
        switch policy.latency {
        case .off:
            slow = nil
        case .slowEvents(let threshold):
            slow = ErrorProvenanceEProcess(ratios: policy.ratios)
            slowThreshold = threshold
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
        guard slow != nil else { return }
        if let threshold = slowThreshold {
            slow?.observe(
                canary: canary.total.count(above: threshold), stable: stable.total.count(above: threshold), rho: rho)
        } else {
            // Learn the threshold from the stable alone, then freeze it.
            learning.merge(stable.total)
            if learning.count >= UInt64(SequentialPolicy.learnRequests) {
                slowThreshold = learning.seconds(atPercentile: 99)
            }
        }
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

    /// The combined e-value: the mean of the active tests' e-values.
    public var eValue: Double {
        guard let slow else { return errors.eValue }
        return (errors.eValue + slow.eValue) / 2
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
        if let slow, let slowThreshold, slow.eValue > errors.eValue {
            return
                "\(head): canary slow responses (> \(Format.milliseconds(slowThreshold))) \(slow.canaryEvents) of \(slow.totalEvents) \(weight)"
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
    }

    /// The judge's state for `snapshot`.
    public func snapshot(canary: String, stable: String, canaryRequestsInStep: UInt64) -> Snapshot {
        Snapshot(
            canary: canary, stable: stable, errors: errors, slow: slow, safety: safety, slowThreshold: slowThreshold,
            lastWeightPercent: lastWeightPercent, canaryRequestsInStep: canaryRequestsInStep, baseline: baseline)
    }

    /// A judge continuing `snapshot`; nil when it was made under another policy (other ratios,
    /// r₀ or latency test), which then starts afresh.
    public init?(policy: SequentialPolicy, restoring snapshot: Snapshot) {
        self.init(policy: policy)
        guard snapshot.errors.ratios == policy.ratios, snapshot.safety.r0 == policy.r0,
            (snapshot.slow == nil) == (slow == nil), snapshot.slow.map({ $0.ratios == policy.ratios }) ?? true
        else { return nil }
        if case .slowEvents(let fixed?) = policy.latency, snapshot.slowThreshold != fixed { return nil }
        errors = snapshot.errors
        slow = snapshot.slow
        safety = snapshot.safety
        slowThreshold = snapshot.slowThreshold
        lastWeightPercent = snapshot.lastWeightPercent
        baseline = snapshot.baseline ?? Tally()
    }
}
