import WeirCore

/// The request path of one client connection (or one HTTP/2 stream) as a pure state machine: every
/// event — a request part, an upstream connection or failure, a response part, the timer, the client
/// leaving — goes in, and the one action the shell must take comes out. `ProxyHandler` only executes
/// actions (async-http-client's `HTTPRequestStateMachine` + `HTTP1ClientChannelHandler.run(action)`).
///
/// The rules that used to be spread over flags live here once: every state names its deadline
/// (`deadline`), so no state can hold a connection forever; a stalled client is the client's fault
/// (408, kind `client`), never the version's; the route timeout runs from the complete request; an
/// early answer lingers over the rest of the body for a bounded time and size; retries follow
/// `UpstreamSelector.mayRetry`. Time is nanoseconds on the caller's monotonic clock, passed in.
struct ExchangeStateMachine {
    /// The connection's deadlines and bounds, in nanoseconds and bytes.
    struct Settings: Sendable, Hashable {
        /// No complete request head this long after the last exchange: close (HTTP/1.1 only).
        var idleTimeout: UInt64
        /// Longest wait between two reads of a request body (`server.client_body_timeout`).
        var bodyTimeout: UInt64
        /// After an early answer, how long and how many bytes of the request body are read and
        /// dropped before the connection closes (nginx's `lingering_time`).
        var lingerTime: UInt64
        var lingerBytes: Int
        /// Serving one HTTP/2 stream: no idle wait, and an early answer resets the stream
        /// (`RST_STREAM(NO_ERROR)`) instead of lingering.
        var isStream: Bool
    }

    /// What the request head came to, decided by `RequestHeadRules` and routing.
    enum Plan: Sendable, Hashable {
        /// Weir answers the request itself (bad request, no route, method not allowed).
        case rejected(ProxyFailure)
        /// The request goes to an upstream of its version.
        case routed(Routed)
    }

    /// The facts about a routed request that the path's rules need.
    struct Routed: Sendable, Hashable {
        var isIdempotent: Bool
        var hasBody: Bool
        /// The route's timeout, from the complete request to the complete response.
        var timeout: UInt64
        /// Connect failures that may move on to another upstream of the version.
        var connectRetries: Int
    }

    enum Action: Sendable, Hashable {
        case none
        /// Get an upstream connection and report `upstreamAcquired` or `upstreamAcquireFailed`.
        /// `reuse`: an idle pooled connection may serve; `avoidPrevious`: pick another upstream than
        /// the last attempt's; `replay`: the request head (and end) must be queued again.
        case acquireUpstream(reuse: Bool, avoidPrevious: Bool, replay: Bool)
        /// The upstream connection is no longer wanted (the exchange ended while it was being made).
        case releaseUpstream
        /// Send what was held while connecting to the upstream that has just been attached.
        case sendBuffered
        case forwardBodyPart
        case bufferBodyPart
        case dropBodyPart
        case forwardEnd
        case bufferEnd
        case forwardResponseHead
        case forwardResponseBodyPart
        /// The response is complete: write its end, give the upstream back (`reuseUpstream`: it can
        /// carry another exchange), record the outcome; then close the connection (`close`) or
        /// reset the stream (`resetStream`: the client was still sending).
        case finishResponse(reuseUpstream: Bool, close: Bool, resetStream: Bool)
        /// Answer with Weir's own response before any response byte: drop the upstream, record the
        /// outcome (when routed), then close or reset as told.
        case answer(ProxyFailure, close: Bool, resetStream: Bool)
        /// The response had begun: cut it (an HTTP/2 gRPC call ends with the failure's status in
        /// trailers instead), drop the upstream, record the outcome.
        case cutResponse(ProxyFailure)
        /// Close the client connection.
        case close
        /// Reset the HTTP/2 stream with `NO_ERROR`: the answer is complete, stop sending.
        case resetStream
        /// The client is gone mid-exchange: nothing is recorded. `upstreamCanFinish`: the whole request
        /// went upstream, so the connection may read out its answer and serve again instead of closing
        /// (a reset HTTP/2 stream must not cost an upstream connection).
        case abandon(upstreamCanFinish: Bool)
    }

    private enum RequestSide: Sendable, Hashable {
        /// Reading the body; `lastRead` starts the body deadline.
        case streaming(lastRead: UInt64)
        /// Weir stopped reading because the upstream cannot take more: the upstream's clock runs.
        case paused(since: UInt64)
        case complete(at: UInt64)
    }

    private enum ResponseSide: Sendable, Hashable {
        /// Waiting for an upstream connection; request parts are held.
        case acquiring
        /// The request is on its way; `reused`: on a pooled connection (may be stale).
        case awaitingHead(reused: Bool)
        case streaming
    }

    private struct Exchange: Sendable, Hashable {
        var request: RequestSide
        var response: ResponseSide
        var routed: Routed
        var keepAlive: Bool
        var startedAt: UInt64
        var staleRetryLeft = true
    }

    private enum State: Sendable, Hashable {
        /// Between exchanges, waiting for a request head.
        case idle(since: UInt64)
        case exchanging(Exchange)
        /// Answered before the request body ended: the rest is read and dropped (bounded), then the
        /// connection serves the next request (`keepAlive`) or closes.
        case lingering(until: UInt64, bytesLeft: Int, keepAlive: Bool)
        case closed
    }

    let settings: Settings
    private var state: State

    init(settings: Settings, now: UInt64) {
        self.settings = settings
        self.state = .idle(since: now)
    }

    // MARK: What the shell reads

    /// When `timerFired` must be called next; nil when no deadline applies (a closed connection,
    /// an idle HTTP/2 stream, whose connection has its own idle timer).
    var deadline: UInt64? {
        switch state {
        case .idle(let since):
            return settings.isStream ? nil : since &+ settings.idleTimeout
        case .exchanging(let exchange):
            var due = UInt64.max
            switch exchange.request {
            case .streaming(let lastRead): due = lastRead &+ settings.bodyTimeout
            case .paused(let since): due = since &+ exchange.routed.timeout
            case .complete(let at): due = at &+ exchange.routed.timeout
            }
            if exchange.response == .acquiring { due = min(due, exchange.startedAt &+ exchange.routed.timeout) }
            return due
        case .lingering(let until, _, _):
            return until
        case .closed:
            return nil
        }
    }

    /// An exchange is in flight (routed, not yet answered).
    var isExchanging: Bool {
        if case .exchanging = state { return true }
        return false
    }

    /// Waiting for an upstream connection (request parts are being held).
    var isAcquiring: Bool {
        if case .exchanging(let exchange) = state { return exchange.response == .acquiring }
        return false
    }

    /// The response being written closes the connection after it (the shell says so in its head).
    var closesAfterResponse: Bool {
        if case .exchanging(let exchange) = state { return !exchange.keepAlive && !settings.isStream }
        return false
    }

    var isClosed: Bool { state == .closed }

    // MARK: Request side

    mutating func requestHead(_ plan: Plan, keepAlive: Bool, now: UInt64) -> Action {
        guard case .idle = state else {
            // A second head inside an exchange cannot happen on a sane connection.
            state = .closed
            return .close
        }
        switch plan {
        case .rejected(let failure):
            // Nothing reached an upstream; the request may still have a body to read past.
            if (failure.closesConnection || !keepAlive) && !settings.isStream {
                state = .closed
                return .answer(failure, close: true, resetStream: false)
            }
            state = .lingering(until: now &+ settings.lingerTime, bytesLeft: settings.lingerBytes, keepAlive: keepAlive)
            return .answer(failure, close: false, resetStream: false)
        case .routed(let routed):
            state = .exchanging(
                Exchange(
                    request: .streaming(lastRead: now), response: .acquiring, routed: routed,
                    keepAlive: keepAlive || settings.isStream, startedAt: now))
            return .acquireUpstream(reuse: true, avoidPrevious: false, replay: false)
        }
    }

    mutating func requestBodyPart(bytes: Int, now: UInt64) -> Action {
        switch state {
        case .exchanging(var exchange):
            guard case .complete = exchange.request else {
                exchange.request = .streaming(lastRead: now)
                let action: Action = exchange.response == .acquiring ? .bufferBodyPart : .forwardBodyPart
                state = .exchanging(exchange)
                return action
            }
            state = .closed
            return .close
        case .lingering(let until, let bytesLeft, let keepAlive):
            if settings.isStream {
                state = .closed
                return .resetStream
            }
            guard bytesLeft >= bytes else {
                state = .closed
                return .close
            }
            state = .lingering(until: until, bytesLeft: bytesLeft - bytes, keepAlive: keepAlive)
            return .dropBodyPart
        case .idle, .closed:
            return .dropBodyPart
        }
    }

    mutating func requestEnd(now: UInt64) -> Action {
        switch state {
        case .exchanging(var exchange):
            if case .complete = exchange.request {
                state = .closed
                return .close
            }
            exchange.request = .complete(at: now)
            state = .exchanging(exchange)
            return exchange.response == .acquiring ? .bufferEnd : .forwardEnd
        case .lingering(_, _, let keepAlive):
            if keepAlive || settings.isStream {
                state = .idle(since: now)
                return .none
            }
            state = .closed
            return .close
        case .idle, .closed:
            return .none
        }
    }

    /// Weir stopped reading the client because the upstream connection cannot take more.
    mutating func readsPaused(now: UInt64) {
        guard case .exchanging(var exchange) = state, case .streaming = exchange.request else { return }
        exchange.request = .paused(since: now)
        state = .exchanging(exchange)
    }

    mutating func readsResumed(now: UInt64) {
        guard case .exchanging(var exchange) = state, case .paused = exchange.request else { return }
        exchange.request = .streaming(lastRead: now)
        state = .exchanging(exchange)
    }

    /// Draining: the exchange in flight is the connection's last.
    mutating func drainStarted() {
        guard case .exchanging(var exchange) = state else { return }
        exchange.keepAlive = settings.isStream
        state = .exchanging(exchange)
    }

    // MARK: Upstream side

    mutating func upstreamAcquired(reused: Bool) -> Action {
        guard case .exchanging(var exchange) = state, exchange.response == .acquiring else { return .releaseUpstream }
        exchange.response = .awaitingHead(reused: reused)
        state = .exchanging(exchange)
        return .sendBuffered
    }

    /// No connection: `overflow` when the circuit breaker refused one, else the connect failed.
    mutating func upstreamAcquireFailed(overflow: Bool, detail: String, now: UInt64) -> Action {
        guard case .exchanging(var exchange) = state, exchange.response == .acquiring else { return .none }
        if overflow {
            return answer(.upstreamOverflow(detail), exchange, now: now)
        }
        let facts = facts(of: exchange)
        if exchange.routed.connectRetries > 0, UpstreamSelector.mayRetry(after: .connectFailed, facts) {
            exchange.routed.connectRetries -= 1
            state = .exchanging(exchange)
            return .acquireUpstream(reuse: true, avoidPrevious: true, replay: false)
        }
        return answer(.upstreamUnreachable(detail), exchange, now: now)
    }

    mutating func responseHead() -> Action {
        guard case .exchanging(var exchange) = state, case .awaitingHead = exchange.response else { return .none }
        exchange.response = .streaming
        state = .exchanging(exchange)
        return .forwardResponseHead
    }

    mutating func responseBodyPart() -> Action {
        guard case .exchanging(let exchange) = state, exchange.response == .streaming else { return .none }
        return .forwardResponseBodyPart
    }

    mutating func responseEnd(now: UInt64) -> Action {
        guard case .exchanging(let exchange) = state, exchange.response == .streaming else { return .none }
        guard case .complete = exchange.request else {
            // The upstream answered before the request body ended.
            if settings.isStream {
                state = .closed
                return .finishResponse(reuseUpstream: false, close: false, resetStream: true)
            }
            state = .lingering(
                until: now &+ settings.lingerTime, bytesLeft: settings.lingerBytes, keepAlive: exchange.keepAlive)
            return .finishResponse(reuseUpstream: false, close: false, resetStream: false)
        }
        let close = !exchange.keepAlive && !settings.isStream
        state = close ? .closed : .idle(since: now)
        return .finishResponse(reuseUpstream: true, close: close, resetStream: false)
    }

    /// The upstream connection closed (or failed) while the exchange used it.
    mutating func upstreamClosed(now: UInt64) -> Action {
        guard case .exchanging(var exchange) = state else { return .none }
        switch exchange.response {
        case .acquiring:
            return .none
        case .awaitingHead(let reused):
            if exchange.staleRetryLeft,
                UpstreamSelector.mayRetry(after: .closedBeforeAnswer(reusedConnection: reused), facts(of: exchange))
            {
                exchange.staleRetryLeft = false
                exchange.response = .acquiring
                state = .exchanging(exchange)
                return .acquireUpstream(reuse: false, avoidPrevious: false, replay: true)
            }
            return answer(.upstreamReset("the upstream closed the connection before answering"), exchange, now: now)
        case .streaming:
            state = .closed
            return .cutResponse(.upstreamReset("the upstream closed the connection mid-response"))
        }
    }

    // MARK: Time and the client

    mutating func timerFired(now: UInt64) -> Action {
        guard let due = deadline, now >= due else { return .none }
        switch state {
        case .idle:
            state = .closed
            return .close
        case .exchanging(let exchange):
            let failure: ProxyFailure
            if case .streaming = exchange.request {
                failure = .requestTimeout(
                    "the client sent no request body bytes for \(Self.describe(settings.bodyTimeout))")
            } else {
                let timeout = Self.describe(exchange.routed.timeout)
                failure = .upstreamTimeout(
                    exchange.response == .streaming
                        ? "the upstream did not finish within \(timeout)"
                        : "no answer from the upstream within \(timeout)")
            }
            if exchange.response == .streaming {
                state = .closed
                return .cutResponse(failure)
            }
            return answer(failure, exchange, now: now)
        case .lingering:
            state = .closed
            return settings.isStream ? .resetStream : .close
        case .closed:
            return .none
        }
    }

    mutating func clientClosed() -> Action {
        defer { state = .closed }
        guard case .exchanging(let exchange) = state else { return .none }
        var canFinish = exchange.response != .acquiring
        if case .complete = exchange.request {} else { canFinish = false }
        return .abandon(upstreamCanFinish: canFinish)
    }

    // MARK: Helpers

    /// Ends the exchange with Weir's own answer; what follows depends on how much of the request
    /// was read.
    private mutating func answer(_ failure: ProxyFailure, _ exchange: Exchange, now: UInt64) -> Action {
        if case .complete = exchange.request {
            let close = (!exchange.keepAlive || failure.closesConnection) && !settings.isStream
            state = close ? .closed : .idle(since: now)
            return .answer(failure, close: close, resetStream: false)
        }
        if settings.isStream {
            state = .closed
            return .answer(failure, close: false, resetStream: true)
        }
        if failure.closesConnection {
            state = .closed
            return .answer(failure, close: true, resetStream: false)
        }
        state = .lingering(
            until: now &+ settings.lingerTime, bytesLeft: settings.lingerBytes, keepAlive: exchange.keepAlive)
        return .answer(failure, close: false, resetStream: false)
    }

    private func facts(of exchange: Exchange) -> UpstreamSelector.RequestFacts {
        let complete: Bool
        if case .complete = exchange.request { complete = true } else { complete = false }
        return UpstreamSelector.RequestFacts(
            isIdempotent: exchange.routed.isIdempotent, hasBody: exchange.routed.hasBody, isComplete: complete)
    }

    static func describe(_ nanos: UInt64) -> String {
        let millis = nanos / 1_000_000
        return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(millis)ms"
    }
}
