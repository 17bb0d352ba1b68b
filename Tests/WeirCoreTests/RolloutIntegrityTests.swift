import Testing
@testable import WeirCore

/// The pure rules behind CONTRACT §8's rollout integrity: who may pin, which transitions wait for
/// the store, what TLS is weak, and a sequential judge that survives a restart.
@Suite struct RolloutIntegrityUnitTests {
    static let loopback: [UInt8] = [127, 0, 0, 1]

    @Test func aPinIsBelievedFromATrustedBlockOrWithTheExactSecret() throws {
        let block = try #require(CIDRBlock(address: [10, 9, 0, 0], prefixLength: 16))
        let rule = OverrideRule(trusted: [block], secret: Array("s3cret".utf8))
        #expect(rule.believes(clientAddress: [10, 9, 200, 1], presentedSecret: nil))
        // An IPv4-mapped IPv6 peer is the IPv4 address it maps.
        #expect(rule.believes(clientAddress: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 9, 1, 1], presentedSecret: nil))
        #expect(!rule.believes(clientAddress: Self.loopback, presentedSecret: nil))
        #expect(rule.believes(clientAddress: Self.loopback, presentedSecret: "s3cret"))
        for wrong in ["", "s3cre", "s3cret ", "s3cretX", "S3CRET", "x"] {
            #expect(!rule.believes(clientAddress: Self.loopback, presentedSecret: Substring(wrong)), "\(wrong)")
        }
        // No secret configured: no presented value is believed, not even an empty one.
        let trustedOnly = OverrideRule(trusted: [block])
        #expect(!trustedOnly.believes(clientAddress: Self.loopback, presentedSecret: ""))
        #expect(!trustedOnly.believes(clientAddress: nil, presentedSecret: nil))
    }

    @Test func aPinNeverReachesAVersionTheWeightsGiveNothingUnlessAllowed() {
        let rule = OverrideRule(trusted: [])
        let rolledBack = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryBasisPoints: 0)
        #expect(rule.admits(versionIndex: 0, split: rolledBack))
        #expect(!rule.admits(versionIndex: 1, split: rolledBack))
        let fullCanary = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryBasisPoints: TrafficSplit.fullScale)
        #expect(!rule.admits(versionIndex: 0, split: fullCanary))
        #expect(rule.admits(versionIndex: 1, split: fullCanary))
        // A third version that is neither stable nor canary.
        #expect(!rule.admits(versionIndex: 2, split: TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: 5)))
        var allowing = rule
        allowing.allowInactive = true
        #expect(allowing.admits(versionIndex: 1, split: rolledBack))
    }

    @Test func onlyMovesTowardTheCanaryWaitForTheStore() {
        let policy = RolloutPolicy(steps: [5, 25].map { .init(weight: $0) })
        func status(_ phase: RolloutPhase, step: Int = 0, pinned: Double? = nil) -> RolloutStatus {
            RolloutStatus(
                phase: phase, step: step, stable: "v1", canary: "v2", previousStable: nil, pinnedPercent: pinned,
                consecutiveFailures: 0)
        }
        func moves(_ from: RolloutStatus, _ to: RolloutStatus) -> Bool {
            RolloutTransition(route: "r", from: from, to: to, weights: [:], actor: .policy, reason: "", kind: .step)
                .movesTowardCanary(policy: policy)
        }
        #expect(moves(status(.progressing), status(.progressing, step: 1)))  // advance
        #expect(moves(status(.progressing, step: 1), RolloutStatus(phase: .promoted, stable: "v2", canary: "v2")))
        #expect(moves(status(.paused), status(.progressing)))  // resume
        #expect(moves(status(.rolledBack), status(.progressing)))  // retry
        #expect(moves(status(.progressing), status(.paused, pinned: 40)))  // weight up
        #expect(!moves(status(.progressing, step: 1), status(.rolledBack, step: 1)))  // rollback
        #expect(!moves(status(.progressing), status(.paused)))  // pause
        #expect(!moves(status(.progressing, step: 1), status(.paused, step: 1, pinned: 1)))  // weight down
        #expect(!moves(status(.progressing), status(.progressing)))  // a failed window
        let promoted = RolloutStatus(phase: .promoted, stable: "v2", canary: "v2", previousStable: "v1")
        #expect(!moves(promoted, RolloutStatus(phase: .rolledBack, stable: "v1", canary: "v2")))  // undo
    }

    @Test func tlsWeaknessesAreNamed() {
        #expect(TLSPolicy.intermediate.weaknesses.isEmpty)
        #expect(TLSPolicy(minVersion: .tls1_3).weaknesses.isEmpty)
        let weak = TLSPolicy(minVersion: .tls1_1, ciphers: "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:ECDHE-RSA-AES128-SHA:RC4-SHA")
        #expect(weak.weaknesses.count == 4)
        #expect(weak.weaknesses[0].contains("min_version 1.1"))
        #expect(weak.weaknesses.contains { $0.contains("cipher AES128-SHA ") })
        #expect(!weak.weaknesses.contains { $0.contains("ECDHE-RSA-AES128-GCM-SHA256") })
    }

    @Test func aRestoredJudgeContinuesExactlyWhereItStopped() {
        let policy = SequentialPolicy(latency: .slowEvents(thresholdSeconds: 0.2))
        var canary = RequestStats()
        var stable = RequestStats()
        for index in 0..<30 {
            canary.record(RequestOutcome(status: index < 3 ? 500 : 200, failure: nil, firstByteNanos: nil, totalNanos: 300_000_000))
            stable.record(RequestOutcome(status: index < 1 ? 500 : 200, failure: nil, firstByteNanos: nil, totalNanos: 10_000_000))
        }
        var uninterrupted = SequentialJudge(policy: policy)
        for _ in 0..<3 { uninterrupted.observe(canary: canary, stable: stable, weightPercent: 10, errorKinds: [.http5xx]) }
        let snapshot = uninterrupted.snapshot(canary: "v2", stable: "v1", canaryRequestsInStep: 90)
        var restored = SequentialJudge(policy: policy, restoring: snapshot)
        #expect(restored != nil)
        for _ in 0..<3 {
            uninterrupted.observe(canary: canary, stable: stable, weightPercent: 25, errorKinds: [.http5xx])
            restored?.observe(canary: canary, stable: stable, weightPercent: 25, errorKinds: [.http5xx])
        }
        #expect(restored?.eValue == uninterrupted.eValue)
        #expect(restored?.safety.eValue == uninterrupted.safety.eValue)
        #expect(uninterrupted.eValue > 1)
        // Evidence gathered under another test is not reused.
        #expect(SequentialJudge(policy: SequentialPolicy(ratios: [2, 4]), restoring: snapshot) == nil)
        #expect(SequentialJudge(policy: SequentialPolicy(latency: .off), restoring: snapshot) == nil)
    }
}

/// Judge v2: outcomes carry the split they were routed under.
@Suite struct RoutedWeightTests {
    static func outcome(_ status: Int = 200) -> RequestOutcome {
        RequestOutcome(status: status, failure: nil, firstByteNanos: nil, totalNanos: 1_000_000)
    }

    @Test func aSecondKeepsEachRoutedWeightApartAndMergesThemForWindows() {
        var recorder = PerSecondRecorder()
        let series = SeriesID(rawValue: 0)
        recorder.record(Self.outcome(), series: series, second: 7, weight: 500)
        recorder.record(Self.outcome(500), series: series, second: 7, weight: 500)
        // The step to 10 % lands mid-second: later requests were routed under it.
        recorder.record(Self.outcome(), series: series, second: 7, weight: 1000)
        recorder.record(Self.outcome(), series: series, second: 8, weight: 1000)
        var window = SlidingWindow(capacitySeconds: 60)
        for bucket in recorder.drain(before: 9) {
            window.add(second: bucket.second, weight: bucket.weight, stats: bucket.stats)
        }
        let slices = window.slices(second: 7)
        #expect(slices.keys.sorted() == [500, 1000])
        #expect(slices[500]?.requests == 2 && slices[500]?.errors(of: .http5xx) == 1)
        #expect(slices[1000]?.requests == 1)
        #expect(window.stats(from: 7, to: 9).requests == 4)
        #expect(window.slices(second: 8)[1000]?.requests == 1)
    }

    @Test func requestsRoutedBeforeAStepNeverCountAsEvidenceAboutTheNewWeight() throws {
        var route = RolloutStateMachineTests.route(checks: [])
        route.policy.judge = .sequential(SequentialPolicy(latency: .off, maxStepTime: .seconds(10), minBakeTime: .seconds(1)))
        var machine = RolloutStateMachine<VirtualClock>(
            route: route, status: .initial(for: route), now: VirtualClock.Instant(offset: .zero))
        _ = try machine.handle(.promote(full: false), at: VirtualClock.Instant(offset: .seconds(1))).get()
        #expect(machine.status.canaryPercent(policy: route.policy) == 10)
        // A second of requests still routed at 5 % (long ones finishing late): judged at ρ = 5 %,
        // but not this step's requests nor its proof.
        var canary = RequestStats()
        for _ in 0..<300 { canary.record(Self.outcome()) }
        let late = RolloutStateMachine<VirtualClock>.RoutedSlice(weightPercent: 5, canary: canary, stable: canary)
        _ = machine.observeSecond(slices: [late], at: VirtualClock.Instant(offset: .seconds(2)))
        #expect(machine.canaryRequestsInStep == 0)
        #expect(machine.judge?.lastWeightPercent == 5)
        let current = RolloutStateMachine<VirtualClock>.RoutedSlice(weightPercent: 10, canary: canary, stable: canary)
        _ = machine.observeSecond(slices: [current], at: VirtualClock.Instant(offset: .seconds(3)))
        #expect(machine.canaryRequestsInStep == 300)
    }
}

@Suite struct SharedTroubleTests {
    typealias Tally = SequentialJudge.Tally

    @Test func troubleIsAFailingStableNotNoise() {
        let none = Tally()
        // A steady 8 % is a bad stable, not trouble; 25 % from the start is a failing dependency.
        #expect(!SequentialJudge.isTrouble(recent: [Tally(errors: 12, requests: 150)], baseline: none, floor: 0.10))
        #expect(SequentialJudge.isTrouble(recent: [Tally(errors: 38, requests: 150)], baseline: none, floor: 0.10))
        // With a 1 % baseline, 5 % over 1 000 requests is trouble; 1.5 % is noise; too few is nothing.
        let baseline = Tally(errors: 20, requests: 2_000)
        #expect(SequentialJudge.isTrouble(recent: [Tally(errors: 50, requests: 1_000)], baseline: baseline, floor: 0.10))
        #expect(!SequentialJudge.isTrouble(recent: [Tally(errors: 15, requests: 1_000)], baseline: baseline, floor: 0.10))
        #expect(!SequentialJudge.isTrouble(recent: [Tally(errors: 20, requests: 40)], baseline: baseline, floor: 0.10))
        // A chronically bad stable (8 %) is judged against its own baseline, not the floor.
        let bad = Tally(errors: 160, requests: 2_000)
        #expect(!SequentialJudge.isTrouble(recent: [Tally(errors: 110, requests: 1_000)], baseline: bad, floor: 0.10))
        #expect(SequentialJudge.isTrouble(recent: [Tally(errors: 300, requests: 1_000)], baseline: bad, floor: 0.10))
    }
}
