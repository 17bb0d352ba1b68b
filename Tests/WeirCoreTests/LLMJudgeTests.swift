import Testing
import WeirCore

/// The judges on LLM measurements: threshold checks on TTFT, TPOT, tokens and finish reasons; the
/// sequential judge's slow-first-token and slow-token-rate tests; `weir simulate` on LLM scenarios.
@Suite struct LLMJudgeTests {
    static let ms: UInt64 = 1_000_000

    /// `count` streamed answers with the given TTFT, TPOT, tokens and finish.
    static func answers(
        _ count: Int, ttftMs: UInt64, tpotMs: UInt64 = 20, tokens: UInt64 = 100, finish: FinishReason = .stop,
        into stats: inout RequestStats
    ) {
        for _ in 0..<count {
            let facts = LLMFacts(
                ttftNanos: ttftMs * ms, tpotNanos: tpotMs * ms, outputTokens: tokens, durationNanos: 2_000 * ms,
                finish: finish)
            stats.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: ms, totalNanos: 2_000 * ms, llm: facts))
        }
    }

    @Test func thresholdChecksReadTheLLMStatistics() {
        var canary = RequestStats()
        var stable = RequestStats()
        Self.answers(70, ttftMs: 400, tokens: 80, into: &canary)
        Self.answers(30, ttftMs: 400, tokens: 80, finish: .length, into: &canary)
        Self.answers(90, ttftMs: 200, tpotMs: 20, tokens: 100, into: &stable)
        Self.answers(10, ttftMs: 200, tpotMs: 20, tokens: 100, finish: .length, into: &stable)
        func verdict(_ checks: [Check]) -> Verdict {
            var policy = RolloutPolicy(minRequests: 10)
            policy.checks = checks
            return WindowAnalysis.judge(canary: canary, stable: stable, policy: policy)
        }
        #expect(verdict([Check(metric: .timeToFirstToken(percentile: 95), bound: .maxRatio(1.5))]).isFailure)
        #expect(!verdict([Check(metric: .timeToFirstToken(percentile: 95), bound: .maxRatio(2.5))]).isFailure)
        #expect(!verdict([Check(metric: .timePerOutputToken(percentile: 50), bound: .maxRatio(1.1))]).isFailure)
        #expect(verdict([Check(metric: .finishLengthRate, bound: .maxIncrease(0.1))]).isFailure)
        #expect(verdict([Check(metric: .outputTokensMean, bound: .max(75))]).isFailure)
        #expect(!verdict([Check(metric: .streamErrorRate, bound: .max(0))]).isFailure)
        let reason = verdict([Check(metric: .timeToFirstToken(percentile: 95), bound: .maxRatio(1.5))]).reason
        #expect(reason.contains("ttft_p95 40"), "\(reason)")
        #expect(
            CheckText.describe(Check(metric: .finishLengthRate, bound: .maxIncrease(0.05)))
                == "finish_length_rate max_increase 5.0%")
        // Without LLM answers in the window there is nothing to judge: the check passes.
        var policy = RolloutPolicy(minRequests: 1)
        policy.checks = [Check(metric: .timeToFirstToken(percentile: 50), bound: .max(0.001))]
        var plain = RequestStats()
        plain.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: 1, totalNanos: 2))
        #expect(!WindowAnalysis.judge(canary: plain, stable: plain, policy: policy).isFailure)
    }

    @Test func theSequentialJudgeLearnsATimeToFirstTokenThresholdAndCountsSlowFirstTokens() {
        let policy = SequentialPolicy(latency: .off, ttft: .slowEvents(thresholdSeconds: nil), tpot: .off)
        var judge = SequentialJudge(policy: policy)
        var learning = RequestStats()
        Self.answers(250, ttftMs: 200, into: &learning)
        judge.observe(canary: RequestStats(), stable: learning, weightPercent: 10, errorKinds: [.http5xx])
        #expect(abs((judge.ttft?.threshold ?? 0) - 0.200) < 0.003)
        // Each second: 18 stable answers at 200 ms, 2 canary answers at 400 ms.
        var seconds = 0
        while judge.rollbackReason == nil && seconds < 60 {
            var canary = RequestStats()
            var stable = RequestStats()
            Self.answers(2, ttftMs: 400, into: &canary)
            Self.answers(18, ttftMs: 200, into: &stable)
            judge.observe(canary: canary, stable: stable, weightPercent: 10, errorKinds: [.http5xx])
            seconds += 1
        }
        #expect(seconds <= 5, "rolled back after \(seconds) s")
        #expect(judge.rollbackReason?.contains("canary slow first tokens (> 200ms)") == true, "\(judge.evidence())")
        // Two tests (errors, TTFT): the e-value is their mean.
        #expect(abs(judge.eValue - (judge.errors.eValue + judge.ttft!.eValue) / 2) < 1e-9)
        // A restart continues the same test.
        let snapshot = judge.snapshot(canary: "v2", stable: "v1", canaryRequestsInStep: 0)
        let restored = SequentialJudge(policy: policy, restoring: snapshot)
        #expect(restored?.ttft == judge.ttft)
        // A policy without the TTFT test does not continue one that had it.
        #expect(SequentialJudge(policy: SequentialPolicy(latency: .off), restoring: snapshot) == nil)
    }

    @Test func anAACanaryOnTokensIsRarelyRolledBack() {
        // Same distributions for both versions: over 100 seeded 2-minute runs the rollback test on
        // slow first tokens and token rates must stay below α (0.01) — allow 3 of 100.
        var random = SplitMix64(seed: 7)
        var rolledBack = 0
        let policy = SequentialPolicy(latency: .off, ttft: .slowEvents(thresholdSeconds: nil), tpot: .slowEvents(thresholdSeconds: nil))
        for _ in 0..<100 {
            var judge = SequentialJudge(policy: policy)
            for _ in 0..<120 {
                var canary = RequestStats()
                var stable = RequestStats()
                for _ in 0..<20 {
                    let toCanary = Double.random(in: 0..<1, using: &random) < 0.1
                    let ttft = UInt64(Double.random(in: 100...300, using: &random))
                    let tpot = UInt64(Double.random(in: 10...30, using: &random))
                    if toCanary {
                        Self.answers(1, ttftMs: ttft, tpotMs: tpot, into: &canary)
                    } else {
                        Self.answers(1, ttftMs: ttft, tpotMs: tpot, into: &stable)
                    }
                }
                judge.observe(canary: canary, stable: stable, weightPercent: 10, errorKinds: [.http5xx])
            }
            if judge.rollbackReason != nil { rolledBack += 1 }
        }
        #expect(rolledBack <= 3, "\(rolledBack) of 100 A/A runs rolled back")
    }
}

extension Verdict {
    fileprivate var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
