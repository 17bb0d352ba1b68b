import RealModule

/// What a route's shadow has shown so far: how often the candidate's answer differs from the
/// stable's, how often a second copy of the stable differs from the first (the noise floor), the
/// class flips, and the score distributions — and an anytime-valid test on the excess.
///
/// The test looks only at discordant requests, where exactly one of the candidate and the stable's
/// copy differs from the stable's answer. If the candidate differs no more than the stable's own
/// noise, each discordant request is the candidate's with probability ½ at most: the
/// error-provenance e-process at ρ = ½ tests that (Ville: a false flag with probability ≤ α), and
/// its reverse (`NoWorseThanEProcess`, r₀) shows agreement.
public struct ShadowTally: Sendable {
    public private(set) var comparisons: UInt64 = 0
    public private(set) var differ: UInt64 = 0
    public private(set) var noiseComparisons: UInt64 = 0
    public private(set) var noiseDiffer: UInt64 = 0
    /// Requests where the candidate differed and the stable's copy did not, and the reverse.
    public private(set) var candidateOnly: UInt64 = 0
    public private(set) var noiseOnly: UInt64 = 0
    /// Shadow answers that failed or could not be read.
    public private(set) var errors: UInt64 = 0
    /// Copies not sent: over `max_in_flight` or `max_body`, or cut for slowness.
    public private(set) var shed: UInt64 = 0
    /// Stable class → candidate class → count (label comparators; at most `maxLabels` classes on
    /// each side, the rest as `other`).
    public private(set) var flips: [String: [String: UInt64]] = [:]
    public private(set) var stableScores = ScoreWindow()
    public private(set) var candidateScores = ScoreWindow()
    public private(set) var excessTest: ErrorProvenanceEProcess
    public private(set) var agreementTest: NoWorseThanEProcess

    public static let maxLabels = 32

    public init(ratios: [Double] = [1.5, 2, 3, 5, 8, 13, 20], r0: Double = 1.5) {
        excessTest = ErrorProvenanceEProcess(ratios: ratios)
        agreementTest = NoWorseThanEProcess(r0: r0)
    }

    public mutating func recordShed() { shed += 1 }
    public mutating func recordError() { errors += 1 }

    /// One mirrored request: the candidate's comparison with the stable's answer, and the stable
    /// copy's (nil without `noise: 2`).
    public mutating func record(candidate: OutputComparator.Outcome, noise: OutputComparator.Outcome?) {
        comparisons += 1
        if !candidate.agree { differ += 1 }
        if let labels = candidate.labels {
            // Both sides bounded: free text compared as a class (the openai preset) makes a new
            // "class" of nearly every answer, and the matrix must not grow with them.
            let from = flips[labels.stable] != nil || flips.count < Self.maxLabels ? labels.stable : "other"
            let row = flips[from] ?? [:]
            let to = row[labels.other] != nil || row.count < Self.maxLabels ? labels.other : "other"
            flips[from, default: [:]][to, default: 0] += 1
        }
        if let scores = candidate.scores {
            stableScores.add(scores.stable)
            candidateScores.add(scores.other)
        }
        guard let noise else { return }
        noiseComparisons += 1
        if !noise.agree { noiseDiffer += 1 }
        let candidateDiffers = !candidate.agree
        let noiseDiffers = !noise.agree
        if candidateDiffers != noiseDiffers {
            if candidateDiffers { candidateOnly += 1 } else { noiseOnly += 1 }
            excessTest.observe(canary: candidateDiffers ? 1 : 0, stable: candidateDiffers ? 0 : 1, rho: 0.5)
            agreementTest.observe(canary: candidateDiffers ? 1 : 0, stable: candidateDiffers ? 0 : 1, rho: 0.5)
        }
    }

    /// Share of compared requests where the candidate agreed with the stable.
    public var agreement: Double? { comparisons == 0 ? nil : 1 - Double(differ) / Double(comparisons) }
    /// The stable's agreement with itself (the noise floor); nil without noise copies.
    public var noiseAgreement: Double? {
        noiseComparisons == 0 ? nil : 1 - Double(noiseDiffer) / Double(noiseComparisons)
    }
    /// The candidate's disagreement above the floor (0 floor without noise copies).
    public var excessDisagreement: Double? {
        guard let agreement else { return nil }
        return (1 - agreement) - (1 - (noiseAgreement ?? 1))
    }

    /// Cohen's κ between the stable's and the candidate's classes; nil without labels.
    public var kappa: Double? {
        var total = 0.0
        var same = 0.0
        var stableMargin: [String: Double] = [:]
        var candidateMargin: [String: Double] = [:]
        for (from, row) in flips {
            for (to, count) in row {
                let n = Double(count)
                total += n
                if from == to { same += n }
                stableMargin[from, default: 0] += n
                candidateMargin[to, default: 0] += n
            }
        }
        guard total > 0 else { return nil }
        let observed = same / total
        let expected = stableMargin.reduce(0) { $0 + $1.value / total * (candidateMargin[$1.key] ?? 0) / total }
        return expected >= 1 ? (observed >= 1 ? 1 : 0) : (observed - expected) / (1 - expected)
    }

    /// Two-sample Kolmogorov–Smirnov statistic between the stable's and the candidate's recent scores.
    public var ks: Double? { ScoreWindow.ks(stableScores.values, candidateScores.values) }
    /// Population stability index of the candidate's recent scores against the stable's (10 bins at
    /// the stable's deciles).
    public var psi: Double? { ScoreWindow.psi(expected: stableScores.values, actual: candidateScores.values) }
}

/// The last `capacity` scores of one side, for distribution comparisons.
public struct ScoreWindow: Sendable {
    public static let capacity = 2000
    public private(set) var values: [Double] = []
    private var next = 0

    public init() {}

    mutating func add(_ value: Double) {
        guard value.isFinite else { return }
        if values.count < Self.capacity {
            values.append(value)
        } else {
            values[next] = value
            next = (next + 1) % Self.capacity
        }
    }

    /// max |F₁(x) − F₂(x)| over the two empirical distributions; nil with fewer than 20 of either.
    public static func ks(_ a: [Double], _ b: [Double]) -> Double? {
        guard a.count >= 20, b.count >= 20 else { return nil }
        let x = a.sorted()
        let y = b.sorted()
        var i = 0
        var j = 0
        var worst = 0.0
        while i < x.count && j < y.count {
            let value = min(x[i], y[j])
            while i < x.count && x[i] <= value { i += 1 }
            while j < y.count && y[j] <= value { j += 1 }
            worst = max(worst, abs(Double(i) / Double(x.count) - Double(j) / Double(y.count)))
        }
        return worst
    }

    /// Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ) over 10 bins cut at the expected sample's deciles; nil with fewer than 20.
    public static func psi(expected: [Double], actual: [Double]) -> Double? {
        guard expected.count >= 20, actual.count >= 20 else { return nil }
        let sorted = expected.sorted()
        let cuts = (1..<10).map { sorted[$0 * sorted.count / 10] }
        func shares(_ values: [Double]) -> [Double] {
            var counts = Array(repeating: 0.0, count: 10)
            for value in values {
                var bin = 0
                while bin < cuts.count && value > cuts[bin] { bin += 1 }
                counts[bin] += 1
            }
            return counts.map { max($0 / Double(values.count), 1e-4) }
        }
        let e = shares(expected)
        let a = shares(actual)
        var total = 0.0
        for index in 0..<10 { total += (a[index] - e[index]) * Double.log(a[index] / e[index]) }
        return total
    }
}
