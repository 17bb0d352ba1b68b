import Testing
import WeirCore

@Suite struct PathNormalizerTests {
    @Test(arguments: [
        ("/v1/models/fraud/infer", "/v1/models/fraud/infer"),
        ("/a/./b", "/a/b"),
        ("/a/b/../c", "/a/c"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/a/%2e%2E/b", "/b"),
        ("/a/%2e/b", "/a/b"),
        ("/a/.../b", "/a/.../b"),
        ("/a/..b/c", "/a/..b/c"),
        ("/a/b?x=/../y", "/a/b?x=/../y"),
        ("/a//b", "/a//b"),
        ("/%41", "/%41"),
        ("/", "/"),
    ])
    func normalises(input: String, expected: String) {
        #expect(PathNormalizer.normalize(input) == expected)
    }

    @Test(arguments: [
        "/..", "/a/../..", "/%2e%2e/x", "relative", "http://h/x", "*", "/a\\b", "/%zz", "/%4", "/a%00b", "/a#f", "",
    ])
    func refuses(input: String) {
        #expect(PathNormalizer.normalize(input) == nil)
    }
}

@Suite struct UpstreamSelectorTests {
    @Test func roundRobinSkipsEjectedAndAvoidedUpstreams() {
        var selector = UpstreamSelector()
        var picks: [Int] = []
        for _ in 0..<6 { picks.append(selector.next(count: 3, isEjected: { $0 == 1 })) }
        #expect(!picks.contains(1))
        #expect(Set(picks) == [0, 2])
        for _ in 0..<5 { #expect(selector.next(count: 3, avoiding: 2, isEjected: { _ in false }) != 2) }
    }

    @Test func retriesFollowTheRules() {
        typealias Facts = UpstreamSelector.RequestFacts
        let get = Facts(isIdempotent: true, hasBody: false, isComplete: true)
        let post = Facts(isIdempotent: false, hasBody: false, isComplete: true)
        #expect(UpstreamSelector.mayRetry(after: .connectFailed, post))
        #expect(UpstreamSelector.mayRetry(after: .closedBeforeAnswer(reusedConnection: true), get))
        #expect(!UpstreamSelector.mayRetry(after: .closedBeforeAnswer(reusedConnection: false), get))
        #expect(!UpstreamSelector.mayRetry(after: .closedBeforeAnswer(reusedConnection: true), post))
        #expect(
            !UpstreamSelector.mayRetry(
                after: .closedBeforeAnswer(reusedConnection: true),
                Facts(isIdempotent: true, hasBody: true, isComplete: true)))
    }
}
