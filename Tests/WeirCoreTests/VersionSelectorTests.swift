import Testing
import WeirCore

@Suite struct VersionSelectorTests {
    let split9010 = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: 10)

    @Test func weightedSplitOver100kPicksLiesWithinFourBinomialDeviations() {
        for (seed, percent) in [(UInt64(1), 10.0), (2, 5), (3, 50), (4, 0.5), (5, 99)] {
            var random = SplitMix64(seed: seed)
            let split = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: percent)
            let n = 100_000
            var canary = 0
            for _ in 0..<n
            where VersionSelector.select(split: split, overrideIndex: nil, stickyKey: nil, using: &random).index == 1 {
                canary += 1
            }
            let p = percent / 100
            let expected = Double(n) * p
            let sd = (Double(n) * p * (1 - p)).squareRoot()
            #expect(abs(Double(canary) - expected) <= 4 * sd, "weight \(percent)%: \(canary) of \(n)")
        }
    }

    @Test func noCanaryOrZeroWeightSendsEverythingToStable() {
        var random = SplitMix64(seed: 7)
        let none = TrafficSplit.allTo(2)
        let zero = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryBasisPoints: 0)
        for _ in 0..<1000 {
            #expect(VersionSelector.select(split: none, overrideIndex: nil, stickyKey: nil, using: &random).index == 2)
            #expect(
                VersionSelector.select(split: zero, overrideIndex: nil, stickyKey: "user-1", using: &random).index == 0)
        }
    }

    @Test func fullWeightSendsEverythingToCanary() {
        var random = SplitMix64(seed: 7)
        let full = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: 100)
        for key in ["a", "b", "c"] {
            #expect(
                VersionSelector.select(split: full, overrideIndex: nil, stickyKey: Substring(key), using: &random).index
                    == 1)
        }
        #expect(VersionSelector.select(split: full, overrideIndex: nil, stickyKey: nil, using: &random).index == 1)
    }

    @Test func overrideWinsOverStickyAndWeights() {
        var random = SplitMix64(seed: 9)
        let result = VersionSelector.select(split: split9010, overrideIndex: 1, stickyKey: "someone", using: &random)
        #expect(result.index == 1)
        #expect(result.reason == .override)
    }

    @Test func stickyKeyAlwaysGetsTheSameVersion() {
        var random = SplitMix64(seed: 11)
        for user in 0..<500 {
            let key = Substring("user-\(user)")
            let first = VersionSelector.select(split: split9010, overrideIndex: nil, stickyKey: key, using: &random)
            #expect(first.reason == .sticky)
            for _ in 0..<5 {
                #expect(
                    VersionSelector.select(split: split9010, overrideIndex: nil, stickyKey: key, using: &random).index
                        == first.index)
            }
        }
    }

    @Test func stickyAssignmentIsMonotoneAsTheWeightRises() {
        var random = SplitMix64(seed: 13)
        let keys = (0..<5_000).map { Substring("key-\($0)") }
        var onCanary = Set<Substring>()
        for percent in [0.5, 1, 5, 10, 25, 50, 75, 99, 100] {
            let split = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: percent)
            let now = Set(
                keys.filter {
                    VersionSelector.select(split: split, overrideIndex: nil, stickyKey: $0, using: &random).index == 1
                })
            #expect(onCanary.isSubset(of: now), "a key left the canary when the weight rose to \(percent)%")
            // And the share follows the weight.
            let share = Double(now.count) / Double(keys.count)
            let sd = (percent / 100 * (1 - percent / 100) / Double(keys.count)).squareRoot()
            #expect(abs(share - percent / 100) <= 4 * sd + 1e-9, "share \(share) at \(percent)%")
            onCanary = now
        }
    }

    @Test func stickyBucketsSpreadUniformly() {
        var counts = Array(repeating: 0, count: 10)
        for index in 0..<100_000 { counts[StickyBucket.bucket(for: "u\(index)") / 1000] += 1 }
        for count in counts { #expect(abs(count - 10_000) < 4 * 95) }
    }
}
