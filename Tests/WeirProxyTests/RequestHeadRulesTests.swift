import NIOHTTP1
import Testing

@testable import WeirProxy

/// Framing by construction and the head checks, one rule per test.
@Suite struct RequestHeadRulesTests {
    static let client = RequestHeadRules.Client(address: "192.0.2.7", secure: false, isTrustedProxy: false)

    static func prepare(
        _ method: HTTPMethod, _ headers: [(String, String)], uri: String = "/v1/x", version: HTTPVersion = .http1_1,
        http2: Bool = false, endedStream: Bool = false, client: RequestHeadRules.Client = client
    ) -> Result<RequestHeadRules.Prepared, ProxyFailure> {
        RequestHeadRules.prepare(
            HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers)),
            isHTTP2: http2, headersEndedStream: endedStream, client: client)
    }

    static func forwarded(_ result: Result<RequestHeadRules.Prepared, ProxyFailure>) -> HTTPHeaders? {
        try? result.get().forwarded.headers
    }

    static let bodyMethods: [HTTPMethod] = [
        .GET, .HEAD, .DELETE, .OPTIONS, .POST, .PUT, .PATCH, .RAW(value: "FROB"), .RAW(value: "PROPFIND"),
    ]

    @Test(arguments: bodyMethods)
    func aContentLengthBodyKeepsItsLengthForEveryMethod(method: HTTPMethod) throws {
        let headers = Self.forwarded(Self.prepare(method, [("host", "a"), ("content-length", "11")]))
        #expect(headers?["content-length"] == ["11"])
        #expect(headers?["transfer-encoding"] == [])
    }

    @Test(arguments: bodyMethods)
    func aChunkedBodyStaysChunkedForEveryMethod(method: HTTPMethod) {
        let headers = Self.forwarded(Self.prepare(method, [("host", "a"), ("transfer-encoding", "chunked")]))
        #expect(headers?["transfer-encoding"] == ["chunked"])
        #expect(headers?["content-length"] == [])
    }

    @Test(arguments: bodyMethods)
    func connectionCannotRemoveTheLengthOrHost(method: HTTPMethod) {
        let headers = Self.forwarded(
            Self.prepare(
                method,
                [
                    ("host", "a"), ("content-length", "5"),
                    ("connection", "content-length, host, x-forwarded-for, transfer-encoding, x-custom"),
                    ("x-custom", "1"),
                ]))
        #expect(headers?["content-length"] == ["5"])
        #expect(headers?["host"] == ["a"])
        #expect(headers?["x-forwarded-for"] == ["192.0.2.7"])
        #expect(headers?["x-custom"] == [])
        #expect(headers?["connection"] == [])
    }

    @Test(arguments: [HTTPMethod.GET, .HEAD, .DELETE, .RAW(value: "TRACK")])
    func anHTTP2StreamWithDataAndNoLengthGoesChunked(method: HTTPMethod) {
        let headers = Self.forwarded(Self.prepare(method, [("host", "a")], http2: true, endedStream: false))
        #expect(headers?["transfer-encoding"] == ["chunked"])
        let none = Self.forwarded(Self.prepare(method, [("host", "a")], http2: true, endedStream: true))
        #expect(none?["transfer-encoding"] == [])
        #expect(none?["content-length"] == [])
    }

    @Test(arguments: [HTTPMethod.TRACE, .CONNECT])
    func traceAndConnectAre405(method: HTTPMethod) {
        guard case .failure(let failure) = Self.prepare(method, [("host", "a"), ("content-length", "4")]) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.status == 405)
    }

    @Test(arguments: [
        [("host", "a"), ("host", "b")],
        [],
        [("host", "a"), ("content-length", "5"), ("content-length", "5")],
        [("host", "a"), ("content-length", "5"), ("transfer-encoding", "chunked")],
        [("host", "a"), ("content-length", "+5")],
    ])
    func contradictoryOrMissingHeadersAre400(headers: [(String, String)]) {
        guard case .failure(let failure) = Self.prepare(.POST, headers) else {
            Issue.record("expected a refusal for \(headers)")
            return
        }
        #expect(failure.status == 400)
        #expect(failure.closesConnection)
    }

    @Test func transferEncodingOnHTTP10Is400() {
        guard case .failure(let failure) = Self.prepare(.POST, [("transfer-encoding", "chunked")], version: .http1_0)
        else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.status == 400)
    }

    @Test func pathsAreNormalisedOrRefused() throws {
        let prepared = try Self.prepare(.GET, [("host", "a")], uri: "/v1/models/a/%2e%2e/b?q=/../x").get()
        #expect(prepared.forwarded.uri == "/v1/models/b?q=/../x")
        guard case .failure(let failure) = Self.prepare(.GET, [("host", "a")], uri: "/../etc/passwd") else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.status == 400)
    }

    @Test func forwardingHeadersFromAnUntrustedClientAreReplaced() throws {
        let headers = try #require(
            Self.forwarded(
                Self.prepare(
                    .GET,
                    [
                        ("host", "api"), ("x-forwarded-for", "10.0.0.1"), ("x-forwarded-proto", "https"),
                        ("x-forwarded-host", "evil"), ("forwarded", "for=10.0.0.1"),
                    ])))
        #expect(headers["x-forwarded-for"] == ["192.0.2.7"])
        #expect(headers["x-forwarded-proto"] == ["http"])
        #expect(headers["x-forwarded-host"] == ["api"])
        #expect(headers["forwarded"] == [])
    }

    @Test func forwardingHeadersFromATrustedProxyAreKeptAndAppended() throws {
        var client = Self.client
        client.isTrustedProxy = true
        let headers = try #require(
            Self.forwarded(
                Self.prepare(
                    .GET, [("host", "api"), ("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "https")],
                    client: client)))
        #expect(headers["x-forwarded-for"] == ["203.0.113.9, 192.0.2.7"])
        #expect(headers["x-forwarded-proto"] == ["https"])
    }

    @Test func onlyIdempotentMethodsAreMarkedReplayable() throws {
        #expect(try Self.prepare(.GET, [("host", "a")]).get().isIdempotent)
        #expect(try !Self.prepare(.POST, [("host", "a")]).get().isIdempotent)
        #expect(try !Self.prepare(.PATCH, [("host", "a")]).get().isIdempotent)
    }
}
