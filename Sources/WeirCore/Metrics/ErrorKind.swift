/// Why a request counts against its version. The data plane classifies every outcome into at most
/// one kind; a route's policy picks which kinds count as errors.
public enum ErrorKind: String, Sendable, Hashable, CaseIterable, Comparable {
    /// The upstream answered 500–599.
    case http5xx = "5xx"
    /// The upstream answered 429 Too Many Requests.
    case http429 = "429"
    /// The upstream answered 400–499 other than 429.
    case http4xx = "4xx"
    /// No connection could be made to the upstream.
    case connect
    /// No complete answer within the route's timeout.
    case timeout
    /// The upstream closed or reset the connection before the response was complete.
    case reset
    /// A gRPC call ended with a `grpc-status` other than 0 (OK).
    case grpc
    /// Weir refused the request at once because the upstream's circuit breaker was full
    /// (`route.circuit_breakers`): weir's own `503`, not the model's answer. Not in the default
    /// `errors`; a policy may count it.
    case overflow
    /// The client failed the exchange (stalled its body past `server.client_body_timeout`): never a
    /// version's error. Counted on its own; not in `requests`, windows or verdicts.
    case client
    /// An LLM stream failed after its head: an `error` event, a cut connection, or an end without
    /// `finish_reason` or `[DONE]` (CONTRACT §10).
    case stream

    /// Dense index for fixed-size counters.
    @inlinable
    public var index: Int {
        switch self {
        case .http5xx: 0
        case .http429: 1
        case .http4xx: 2
        case .connect: 3
        case .timeout: 4
        case .reset: 5
        case .grpc: 6
        case .overflow: 7
        case .client: 8
        case .stream: 9
        }
    }

    public static let count = 10

    /// Whether the failure says something about the upstream's health (outlier ejection): not a
    /// client's fault, and not weir's own circuit breaker refusing before the upstream was asked.
    public var reflectsUpstream: Bool { self != .client && self != .overflow }

    /// The kind a completed HTTP status falls into, if any.
    @inlinable
    public static func forStatus(_ code: Int) -> ErrorKind? {
        if code >= 500 { return .http5xx }
        if code == 429 { return .http429 }
        if code >= 400 { return .http4xx }
        return nil
    }

    public static func < (lhs: ErrorKind, rhs: ErrorKind) -> Bool { lhs.index < rhs.index }
}
