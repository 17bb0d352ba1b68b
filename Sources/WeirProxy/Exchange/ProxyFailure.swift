import WeirCore

/// Why Weir ended an exchange itself, typed: the status the client gets (or the gRPC code, which
/// follows from it), the error code in the JSON body and access log, and what — if anything — the
/// version is charged with. One value per cause, so a cause cannot be answered one way on one path
/// and another way on another.
struct ProxyFailure: Error, Sendable, Hashable {
    private enum Code: String, Sendable, Hashable {
        case noRoute = "no_route"
        case badRequest = "bad_request"
        case methodNotAllowed = "method_not_allowed"
        case requestTimeout = "request_timeout"
        case upstreamUnreachable = "upstream_unreachable"
        case upstreamTimeout = "upstream_timeout"
        case upstreamReset = "upstream_reset"
        case upstreamOverflow = "upstream_overflow"
    }

    private let code: Code
    /// What happened, for a person: where, and with which numbers.
    var message: String

    static func noRoute(_ message: String) -> ProxyFailure { ProxyFailure(code: .noRoute, message: message) }
    static func badRequest(_ message: String) -> ProxyFailure { ProxyFailure(code: .badRequest, message: message) }
    static func methodNotAllowed(_ message: String) -> ProxyFailure {
        ProxyFailure(code: .methodNotAllowed, message: message)
    }
    /// The client stopped sending its request body (`server.client_body_timeout`).
    static func requestTimeout(_ message: String) -> ProxyFailure {
        ProxyFailure(code: .requestTimeout, message: message)
    }
    static func upstreamUnreachable(_ message: String) -> ProxyFailure {
        ProxyFailure(code: .upstreamUnreachable, message: message)
    }
    static func upstreamTimeout(_ message: String) -> ProxyFailure {
        ProxyFailure(code: .upstreamTimeout, message: message)
    }
    static func upstreamReset(_ message: String) -> ProxyFailure {
        ProxyFailure(code: .upstreamReset, message: message)
    }
    /// The upstream's circuit breaker is full (`route.circuit_breakers`).
    static func upstreamOverflow(_ message: String) -> ProxyFailure {
        ProxyFailure(code: .upstreamOverflow, message: message)
    }

    /// The `error` field of the JSON body and of the access log.
    var name: String { code.rawValue }

    /// The HTTP status Weir answers with.
    var status: Int {
        switch code {
        case .noRoute: 404
        case .badRequest: 400
        case .methodNotAllowed: 405
        case .requestTimeout: 408
        case .upstreamUnreachable, .upstreamReset: 502
        case .upstreamTimeout: 504
        case .upstreamOverflow: 503
        }
    }

    /// What the exchange's outcome records: an upstream failure charged to the version, the
    /// client's own kind, or nil when no version was involved (the request never got routed).
    var errorKind: ErrorKind? {
        switch code {
        case .noRoute, .badRequest, .methodNotAllowed: nil
        case .requestTimeout: .client
        case .upstreamUnreachable: .connect
        case .upstreamTimeout: .timeout
        case .upstreamReset: .reset
        case .upstreamOverflow: .overflow
        }
    }

    /// A malformed request: the connection's framing cannot be trusted any more, so it closes.
    var closesConnection: Bool { code == .badRequest || code == .requestTimeout }
}
