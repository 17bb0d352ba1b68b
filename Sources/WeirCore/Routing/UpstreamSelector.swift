/// Which upstream of a version an attempt goes to, and whether a failed attempt may be tried again:
/// the request path's retry rules in one pure place (Envoy's `retry_state_impl`, Pingora's
/// `selection/`), so every path — HTTP/1.1, HTTP/2, gRPC — follows the same ones.
public struct UpstreamSelector: Sendable, Hashable {
    private var cursor = 0

    public init() {}

    /// The next upstream index in round-robin order over `count` upstreams, skipping ejected ones
    /// while at most half are ejected (past that, ejection would only concentrate load) and
    /// skipping `avoiding` (the upstream a retry moves away from) when there is another.
    public mutating func next(count: Int, avoiding: Int? = nil, isEjected: (Int) -> Bool) -> Int {
        if count <= 1 { return 0 }
        var ejected = 0
        for index in 0..<count where isEjected(index) { ejected += 1 }
        let skipEjected = ejected * 2 <= count
        for _ in 0..<count {
            cursor = cursor &+ 1
            let candidate = cursor % count
            if candidate == avoiding { continue }
            if skipEjected && isEjected(candidate) { continue }
            return candidate
        }
        cursor = cursor &+ 1
        return cursor % count
    }

    /// How an attempt failed before any response byte came back.
    public enum AttemptFailure: Sendable, Hashable {
        /// No connection could be made (or the circuit breaker refused one): nothing was sent.
        case connectFailed
        /// The connection closed before any answer. `reusedConnection`: it was a pooled one the
        /// upstream may have closed while it sat idle.
        case closedBeforeAnswer(reusedConnection: Bool)
    }

    /// What a retry decision needs to know about the request.
    public struct RequestFacts: Sendable, Hashable {
        /// The method is idempotent (RFC 9110 §9.2.2).
        public var isIdempotent: Bool
        /// The request carried a body (it streamed through and cannot be sent again).
        public var hasBody: Bool
        /// The whole request has been read from the client.
        public var isComplete: Bool

        public init(isIdempotent: Bool, hasBody: Bool, isComplete: Bool) {
            self.isIdempotent = isIdempotent
            self.hasBody = hasBody
            self.isComplete = isComplete
        }
    }

    /// Whether the request may be sent again after `failure`. A failed connect sent nothing, so any
    /// request may move on. A connection that closed after the request went out may have been read
    /// by the upstream: only a complete, body-less, idempotent request on a reused connection is sent
    /// again (the stale keep-alive case); a `POST` never is.
    public static func mayRetry(after failure: AttemptFailure, _ request: RequestFacts) -> Bool {
        switch failure {
        case .connectFailed:
            true
        case .closedBeforeAnswer(let reused):
            reused && request.isIdempotent && !request.hasBody && request.isComplete
        }
    }

    /// RFC 9110 §9.2.2: the methods whose repetition has the effect of one request.
    public static func isIdempotent(method: String) -> Bool {
        switch method {
        case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE": true
        default: false
        }
    }
}
