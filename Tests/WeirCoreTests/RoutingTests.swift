import Testing
import WeirCore

@Suite struct RoutingTests {
    @Test(arguments: [
        ("http://127.0.0.1:9001", UpstreamAddress(scheme: .http, host: "127.0.0.1", port: 9001)),
        ("http://model-a", UpstreamAddress(scheme: .http, host: "model-a", port: 80)),
        ("https://triton.internal:8443/", UpstreamAddress(scheme: .https, host: "triton.internal", port: 8443)),
        ("h2c://[::1]:8001", UpstreamAddress(scheme: .h2c, host: "::1", port: 8001)),
    ])
    func parsesUpstreamURLs(text: String, expected: UpstreamAddress) {
        #expect(UpstreamAddress(parsing: text) == expected)
    }

    @Test(arguments: [
        "127.0.0.1:9001", "ftp://x:1", "http://", "http://a:0", "http://a:70000", "http://a:1/path", "http://u@a:1",
    ])
    func refusesWhatIsNotAnUpstreamURL(text: String) {
        #expect(UpstreamAddress(parsing: text) == nil)
    }

    @Test func routeMatchChecksEveryCondition() {
        let match = RouteMatch(
            pathPrefix: "/v1/models/fraud", host: "Models.Example.com", header: .init(name: "X-Tenant", value: "acme"))
        let headers = ["x-tenant": "acme"]
        #expect(
            match.matches(
                path: "/v1/models/fraud:predict", host: "models.example.com:8080", headerValue: { headers[$0] }))
        #expect(!match.matches(path: "/v1/models/other", host: "models.example.com", headerValue: { headers[$0] }))
        #expect(!match.matches(path: "/v1/models/fraud", host: "else.example.com", headerValue: { headers[$0] }))
        #expect(!match.matches(path: "/v1/models/fraud", host: nil, headerValue: { headers[$0] }))
        #expect(!match.matches(path: "/v1/models/fraud", host: "models.example.com", headerValue: { _ in "other" }))
    }

    @Test func firstMatchingRouteWins() {
        let routes = [
            route("specific", RouteMatch(pathPrefix: "/v1/models/fraud")),
            route("catch-all", RouteMatch(pathPrefix: "/")),
        ]
        let table = RoutingTable(initialFor: routes)
        #expect(table.routeIndex(path: "/v1/models/fraud/infer", host: nil, headerValue: { _ in nil }) == 0)
        #expect(table.routeIndex(path: "/v1/models/other", host: nil, headerValue: { _ in nil }) == 1)
        let onlySpecific = RoutingTable(initialFor: [routes[0]])
        #expect(onlySpecific.routeIndex(path: "/health", host: nil, headerValue: { _ in nil }) == nil)
    }

    @Test func initialTableStartsTheCanaryAtTheFirstStep() {
        var withCanary = route("a", RouteMatch(pathPrefix: "/"))
        withCanary.canaryIndex = 1
        withCanary.policy.steps = [.init(weight: 2.5), .init(weight: 50)]
        let table = RoutingTable(initialFor: [withCanary, route("b", RouteMatch())])
        #expect(table.splits[0].canaryBasisPoints == 250)
        #expect(table.splits[1].canaryIndex == nil)
        #expect(table.splits[1].canaryBasisPoints == 0)
    }

    func route(_ name: String, _ match: RouteMatch) -> RouteDefinition {
        RouteDefinition(
            name: name, match: match, timeout: .seconds(1),
            versions: [
                VersionDefinition(name: "v1", upstreams: [UpstreamAddress(scheme: .http, host: "127.0.0.1", port: 1)]),
                VersionDefinition(name: "v2", upstreams: [UpstreamAddress(scheme: .http, host: "127.0.0.1", port: 2)]),
            ],
            stableIndex: 0, canaryIndex: nil, sticky: nil, policy: RolloutPolicy()
        )
    }
}

@Suite struct OutlierDetectorTests {
    let second: UInt64 = 1_000_000_000

    @Test func ejectsAfterFailuresInARowWithGrowingBackoff() {
        var detector = OutlierDetector(
            settings: .init(consecutiveFailures: 3, baseEjection: .seconds(10), maxEjection: .seconds(25)))
        let ejected1 = detector.record(success: false, at: 0)
        #expect(!ejected1)
        let ejected2 = detector.record(success: false, at: 0)
        #expect(!ejected2)
        let ejected3 = detector.record(success: false, at: 0)
        #expect(ejected3)
        #expect(detector.isEjected(at: 9 * second))
        #expect(!detector.isEjected(at: 10 * second))
        // Failing again after coming back: twice as long.
        for _ in 0..<3 { detector.record(success: false, at: 10 * second) }
        #expect(detector.isEjected(at: 29 * second))
        #expect(!detector.isEjected(at: 30 * second))
        // Capped at the maximum.
        for _ in 0..<3 { detector.record(success: false, at: 30 * second) }
        #expect(detector.ejectedUntil == 55 * second)
    }

    @Test func aSuccessResetsTheCountAndTheBackoff() {
        var detector = OutlierDetector(settings: .init(consecutiveFailures: 2, baseEjection: .seconds(10)))
        detector.record(success: false, at: 0)
        detector.record(success: true, at: 0)
        let ejected4 = detector.record(success: false, at: 0)
        #expect(!ejected4)
        let ejected5 = detector.record(success: false, at: 0)
        #expect(ejected5)
        detector.record(success: true, at: 20 * second)
        detector.record(success: false, at: 20 * second)
        detector.record(success: false, at: 20 * second)
        #expect(detector.ejectedUntil == 30 * second)
    }
}
