import Testing
import WeirCore

@Suite struct ShadowComparisonTests {
    static func json(_ text: String) -> JSONValue { JSONValue.parse(Array(text.utf8))! }

    @Test func parsesJSONWithEscapesAndRejectsMalformedText() throws {
        let value = Self.json(#"{"a":[1,2.5e1,-3],"s":"x\"y\u00e9\ud83d\ude00","t":true,"n":null}"#)
        #expect(value["a"]?[1] == .number(25))
        #expect(value["s"] == .string("x\"yé😀"))
        #expect(value["t"] == .bool(true) && value["n"] == .null)
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "nul", "\"\\x\"", "1 2", String(repeating: "[", count: 100)] {
            #expect(JSONValue.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(JSONValue.parse(Array(value.description.utf8)) == value)
    }

    @Test func pathsReachIntoObjectsAndArrays() throws {
        let document = Self.json(#"{"outputs":[{"data":[0.1,0.9]}],"choices":[{"message":{"content":"Hi"}}]}"#)
        #expect(JSONPath("outputs[0].data")?.value(in: document) == .array([.number(0.1), .number(0.9)]))
        #expect(JSONPath("$.choices[0].message.content")?.value(in: document) == .string("Hi"))
        #expect(JSONPath("outputs[1].data")?.value(in: document) == nil)
        for bad in ["a..b", "a[x]", "a[-1]", "a[1"] { #expect(JSONPath(bad) == nil, "\(bad)") }
    }

    @Test func comparatorsDecideAgreementTheWayEachKindMeans() throws {
        var label = OutputComparator(kind: .label, path: JSONPath("outputs[0].data"))
        let scores = Self.json(#"{"outputs":[{"data":[0.1,0.7,0.2]}]}"#)
        let sameArgmax = Self.json(#"{"outputs":[{"data":[0.2,0.6,0.2]}]}"#)
        let flipped = Self.json(#"{"outputs":[{"data":[0.1,0.2,0.7]}]}"#)
        #expect(label.compare(stable: scores, other: sameArgmax)?.agree == true)
        let flip = try #require(label.compare(stable: scores, other: flipped))
        #expect(!flip.agree && flip.labels?.stable == "class 1" && flip.labels?.other == "class 2")
        label.path = JSONPath("text")
        label.normalize = true
        #expect(label.compare(stable: Self.json(#"{"text":"Yes,  it is"}"#), other: Self.json(#"{"text":" yes, it IS "}"#))?.agree == true)
        #expect(label.compare(stable: Self.json(#"{"text":"a"}"#), other: Self.json(#"{"x":1}"#)) == nil)

        var numeric = OutputComparator(kind: .numeric, path: JSONPath("v"))
        numeric.absolute = 0.01
        numeric.relative = 0
        #expect(numeric.compare(stable: Self.json(#"{"v":[1.0,2.0]}"#), other: Self.json(#"{"v":[1.005,2.0]}"#))?.agree == true)
        #expect(numeric.compare(stable: Self.json(#"{"v":[1.0,2.0]}"#), other: Self.json(#"{"v":[1.02,2.0]}"#))?.agree == false)
        #expect(numeric.compare(stable: Self.json(#"{"v":[1.0]}"#), other: Self.json(#"{"v":[1.0,2.0]}"#)) == nil)
        numeric.cosine = 0.99
        #expect(numeric.compare(stable: Self.json(#"{"v":[1,2,3]}"#), other: Self.json(#"{"v":[2,4,6.1]}"#))?.agree == true)
        #expect(numeric.compare(stable: Self.json(#"{"v":[1,0,0]}"#), other: Self.json(#"{"v":[0,1,0]}"#))?.agree == false)

        var whole = OutputComparator(kind: .json)
        whole.ignore = ["id", "model_version"]
        let a = Self.json(#"{"id":"1","model_version":"v1","outputs":[{"data":["cat"]}]}"#)
        let b = Self.json(#"{"id":"2","model_version":"v3","outputs":[{"data":["cat"]}]}"#)
        let c = Self.json(#"{"id":"3","model_version":"v3","outputs":[{"data":["dog"]}],"extra":1}"#)
        #expect(whole.compare(stable: a, other: b)?.agree == true)
        let differs = try #require(whole.compare(stable: a, other: c))
        #expect(!differs.agree && differs.detail == "outputs[0].data[0], extra", "\(differs.detail)")
    }

    /// Same seeded inputs, candidate flips some classes, both stable copies add their own noise.
    static func run(flip: Double, noise: Double, requests: Int, seed: UInt64) -> ShadowTally {
        var random = SplitMix64(seed: seed)
        var tally = ShadowTally()
        let labels = ["cat", "dog", "owl", "fox"]
        for _ in 0..<requests {
            let truth = Int(random.next() % 4)
            func answer(flipping: Double) -> String {
                var label = truth
                if Double.random(in: 0..<1, using: &random) < flipping { label = (label + 1) % 4 }
                if Double.random(in: 0..<1, using: &random) < noise { label = Int(random.next() % 4) }
                return labels[label]
            }
            let stable = answer(flipping: 0)
            let copy = answer(flipping: 0)
            let candidate = answer(flipping: flip)
            tally.record(
                candidate: .init(agree: candidate == stable, labels: (stable, candidate), detail: ""),
                noise: .init(agree: copy == stable, labels: (stable, copy), detail: ""))
        }
        return tally
    }

    @Test func theExcessTestFlagsRealFlipsAndRarelyFlagsNoise() {
        // A candidate that flips 5 % of classes over a 3 % noise floor: flagged within 1000 requests.
        let flips = Self.run(flip: 0.05, noise: 0.03, requests: 1000, seed: 1)
        #expect(flips.excessTest.eValue >= 100, "e=\(flips.excessTest.eValue)")
        #expect(abs((flips.excessDisagreement ?? 0) - 0.05) < 0.025)
        #expect((flips.kappa ?? 1) < 0.97)
        // A/A: the candidate is another copy of the stable. Over 200 runs of 1000 requests, the
        // test crosses 1/α = 100 at most α of the time (Ville), and the agreement test shows agreement.
        var flagged = 0
        for seed in 0..<200 {
            let same = Self.run(flip: 0, noise: 0.03, requests: 1000, seed: 1000 + UInt64(seed))
            if same.excessTest.eValue >= 100 { flagged += 1 }
        }
        #expect(flagged <= 2, "\(flagged) of 200 A/A runs flagged")
        // Agreement takes more evidence (discordant pairs are ~6 % of requests here): 10 000 requests.
        var agreed = 0
        for seed in 0..<20 where Self.run(flip: 0, noise: 0.03, requests: 10_000, seed: 5000 + UInt64(seed))
            .agreementTest.eValue >= 100
        {
            agreed += 1
        }
        #expect(agreed >= 10, "agreement shown in \(agreed) of 20")
    }

    @Test func distributionStatisticsSeeAShiftedScore() {
        var random = SplitMix64(seed: 3)
        func normal() -> Double { (0..<12).reduce(-6.0) { sum, _ in sum + Double.random(in: 0..<1, using: &random) } }
        let stable = (0..<2000).map { _ in normal() }
        let same = (0..<2000).map { _ in normal() }
        let shifted = (0..<2000).map { _ in normal() + 0.3 }
        let ksSame = ScoreWindow.ks(stable, same) ?? 1
        let ksShifted = ScoreWindow.ks(stable, shifted) ?? 0
        // Two normals 0.3 σ apart: KS = 2Φ(0.15) − 1 ≈ 0.119.
        #expect(ksSame < 0.05 && abs(ksShifted - 0.119) < 0.04, "KS same \(ksSame), shifted \(ksShifted)")
        #expect((ScoreWindow.psi(expected: stable, actual: shifted) ?? 0) > 5 * (ScoreWindow.psi(expected: stable, actual: same) ?? 1))
        #expect(ScoreWindow.ks([1, 2], [3]) == nil)
    }
}

/// Regressions from the attacker's review of shadow traffic.
@Suite struct ShadowReviewTests {
    static func json(_ text: String) -> JSONValue? { JSONValue.parse(Array(text.utf8)) }

    @Test func aOneElementClassArrayIsTheClassNotAnArgmax() throws {
        let label = OutputComparator(kind: .label, path: JSONPath("outputs[0].data"))
        let two = try #require(Self.json(#"{"outputs":[{"data":[2]}]}"#))
        let five = try #require(Self.json(#"{"outputs":[{"data":[5]}]}"#))
        let outcome = try #require(label.compare(stable: two, other: five))
        #expect(!outcome.agree && outcome.labels?.stable == "2" && outcome.labels?.other == "5")
    }

    @Test func theParserIsStrictAboutNumbersUTF8AndKeepsTheLastOfADuplicatedKey() throws {
        for bad in ["01", "+1", ".5", "1.", "1e", "-", "[01]"] { #expect(Self.json(bad) == nil, "\(bad)") }
        for good in ["0", "-0.5", "1e3", "2E-2", "10"] { #expect(Self.json(good) != nil, "\(good)") }
        #expect(JSONValue.parse([0x22, 0xFF, 0x22]) == nil)
        #expect(JSONValue.parse([0x22, 0xC3, 0x22]) == nil)
        let duplicated = try #require(Self.json(#"{"c":"cat","c":"dog"}"#))
        #expect(duplicated["c"] == .string("dog"))
        #expect(duplicated == Self.json(#"{"c":"dog"}"#))
        // A wide object compares in linear time (a quadratic diff stalled an event loop for 14 s).
        let keys = (0..<90_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let wide = try #require(Self.json("{" + keys + "}"))
        let changed = (0..<90_000).map { $0 == 5 ? "\"k5\":6" : "\"k\($0)\":\($0)" }.joined(separator: ",")
        let other = try #require(Self.json("{" + changed + "}"))
        var paths: [String] = []
        OutputComparator.diff(wide, other, at: "", ignore: [], into: &paths)
        #expect(paths == ["k5"])
    }

    @Test func oddPathsAreRefused() {
        for bad in ["", "a.b.", ".a", "a[0]b", "a..b"] { #expect(JSONPath(bad) == nil, "\(bad)") }
        #expect(JSONPath("a[0].b")?.steps.count == 3)
    }

    @Test func aComparisonThroughARedactedKeyIsMarkedSoNothingOfItIsShown() {
        var settings = ShadowSettings(versionIndex: 1, compare: OutputComparator(kind: .label, path: JSONPath("user.SSN")))
        settings.redact = ["ssn"]
        #expect(settings.pathIsRedacted)
        settings.compare.path = JSONPath("outputs[0].data")
        #expect(!settings.pathIsRedacted)
    }

    /// Free text compared as a class (the openai preset): the flip matrix stays bounded, long texts
    /// are compared whole but kept short, and control characters never reach a terminal.
    @Test func classesFromFreeTextAreBoundedAndShownSafely() throws {
        var tally = ShadowTally()
        for index in 0..<5_000 {
            tally.record(
                candidate: .init(agree: false, labels: ("answer \(index % 40)", "reply \(index)"), detail: ""), noise: nil)
        }
        #expect(tally.flips.count <= ShadowTally.maxLabels + 1)
        #expect(tally.flips.values.allSatisfy { $0.count <= ShadowTally.maxLabels + 1 })
        #expect(tally.flips.values.reduce(0) { $0 + $1.values.reduce(0, +) } == 5_000)

        let openai = OutputComparator.openai
        let long = String(repeating: "x", count: 500)
        func answer(_ text: String) -> JSONValue {
            .object([("choices", .array([.object([("message", .object([("content", .string(text))]))])]))])
        }
        let differsLate = try #require(openai.compare(stable: answer(long + "a"), other: answer(long + "b")))
        #expect(!differsLate.agree && (differsLate.labels?.stable.count ?? 0) <= 81)
        let escape = try #require(openai.compare(stable: answer("ok"), other: answer("\u{1B}[2Jgone")))
        #expect(escape.labels?.other == "?[2Jgone" && !escape.detail.contains("\u{1B}"))
    }
}

