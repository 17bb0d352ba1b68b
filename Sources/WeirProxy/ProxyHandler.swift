import NIOCore
import NIOHTTP1
import WeirCore

/// Serves one client connection — or one HTTP/2 stream: routes each request, picks the version and
/// upstream, streams the request to a pooled upstream connection and the response back, and records
/// the outcome. gRPC calls are measured by their `grpc-status` and answered with one when Weir fails them.
///
/// One request at a time (NIO's pipelining handler queues the next; an HTTP/2 stream carries one);
/// everything happens on the connection's event loop. Backpressure both ways: the client is not read while the upstream
/// cannot take more, and the upstream is not read while the client cannot.
final class ProxyHandler: ChannelDuplexHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Where the current exchange stands.
    private enum State {
        /// Between requests.
        case idle
        /// Waiting for an upstream connection; request parts are held in `buffered` (one read's worth).
        case connecting
        /// Request and response stream through `upstream`.
        case proxying
        /// Weir has answered (or given up on) this request itself; the rest of its body is dropped.
        case discarding
    }

    private let loop: LoopState
    private var context: ChannelHandlerContext!
    private var clientAddress: String?
    private let localScheme: String
    /// The HTTP/2 connection this stream belongs to, told when the stream opens and closes; nil
    /// when the handler serves an HTTP/1.1 connection.
    private let http2Connection: HTTP2ClientConnection?
    /// Serving one HTTP/2 stream: no connection-level limits, timers or `connection: close`.
    private var isStream: Bool { http2Connection != nil }

    private var state = State.idle
    private var readPending = false

    // The current exchange. Plain fields, reset per request, so a request allocates no exchange object.
    private var route: LoopRoute?
    private var version: LoopVersion?
    private var upstream: UpstreamHandler?
    private var upstreamHead: HTTPRequestHead?
    private var buffered: [HTTPClientRequestPart] = []
    private var startedAt = NIODeadline.uptimeNanoseconds(0)
    private var firstByteAt: NIODeadline?
    private var responseStatus: Int?
    private var requestComplete = false
    private var requestHadBody = false
    private var responseComplete = false
    private var keepAlive = true
    private var retriedStaleConnection = false
    /// Numbers exchanges so a late callback (a connect that completes after a timeout) cannot
    /// touch a later exchange on the same connection.
    private var exchangeNumber = 0
    /// The upstream the current exchange went to, for its health record.
    private var currentPool: UpstreamPool?
    /// Connect failures the current exchange may still retry on another upstream.
    private var connectRetriesLeft = 0
    /// One lazily re-armed timer per connection serves both deadlines below: it is rescheduled only
    /// when a deadline comes earlier than it, so a keep-alive request schedules and cancels nothing.
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
    /// The current exchange's route timeout.
    private var exchangeDeadline = NIODeadline.distantFuture
    /// When an idle connection (no complete request head yet) is closed.
    private var idleDeadline = NIODeadline.distantFuture
    private var requestVersion = HTTPVersion.http1_1
    /// The current request is a gRPC call.
    private var isGRPC = false
    /// The gRPC status the upstream put in its response head (a trailers-only answer). Over HTTP/2
    /// it is moved out of the head and sent as the trailers.
    private var headGRPCStatus: HTTPHeaders?
    /// The request head, kept only while the access log is on.
    private var loggedHead: HTTPRequestHead?
    /// Response body bytes sent to the client in this exchange.
    private var responseBytes = 0

    /// `stream`: the handler serves one HTTP/2 stream of that connection;
    /// `secure`: the client came over TLS.
    init(loop: LoopState, stream: HTTP2ClientConnection? = nil, secure: Bool = false) {
        self.loop = loop
        self.http2Connection = stream
        self.localScheme = secure ? "https" : "http"
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.remoteAddress?.ipAddress
        http2Connection?.streamOpened()
        // Added after a TLS handshake or protocol sniffing: the connection is already active.
        if context.channel.isActive { armIdleTimer() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        http2Connection?.streamClosed()
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer()
        context.fireChannelActive()
    }

    /// Closes the connection if no complete request head arrives within the idle timeout.
    private func armIdleTimer(from now: NIODeadline = .now()) {
        if isStream { return }
        idleDeadline = now + loop.idleTimeout
        armTimer(idleDeadline)
    }

    /// Makes sure the timer fires no later than `deadline`.
    private func armTimer(_ deadline: NIODeadline) {
        if deadline == .distantFuture || (timer != nil && timerDeadline <= deadline) { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = .distantFuture
        let now = NIODeadline.now()
        switch state {
        case .connecting, .proxying:
            if now >= exchangeDeadline { timedOut() }
        case .idle:
            if now >= idleDeadline {
                context.close(promise: nil)
                return
            }
        case .discarding:
            return
        }
        // Not due yet (or a new deadline since): wait for the one that applies now.
        armTimer(state == .idle ? idleDeadline : exchangeDeadline)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if state == .connecting || state == .proxying {
            // The client left mid-exchange: not the version's fault, so nothing is recorded.
            logAccess(status: nil, error: "client_closed", at: .now())
            upstream?.detach(reusable: false)
            finishExchange(outcome: nil)
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            startExchange(head)
        case .body(let body):
            requestHadBody = true
            forward(.body(.byteBuffer(body)))
        case .end(let trailers):
            requestComplete = true
            forward(.end(trailers))
            if state == .discarding && responseComplete { endDiscarding() }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if state == .proxying { upstream?.flush() }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        switch state {
        case .connecting:
            readPending = true
        case .proxying where !(upstream?.isWritable ?? true):
            readPending = true
        default:
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Request side

    private func startExchange(_ head: HTTPRequestHead) {
        startedAt = .now()
        exchangeNumber &+= 1
        firstByteAt = nil
        responseStatus = nil
        requestComplete = false
        requestHadBody = false
        responseComplete = false
        retriedStaleConnection = false
        keepAlive = isStream || head.isKeepAlive
        requestVersion = head.version
        isGRPC = GRPCCall.isCall(head.headers)
        headGRPCStatus = nil
        responseBytes = 0
        if loop.accessLog != nil { loggedHead = head }
        route = nil
        version = nil

        let routes = loop.routes
        let path = head.uri
        guard
            let routeIndex = routes.table.routeIndex(
                path: path,
                host: head.headers.first(name: "host"),
                headerValue: { head.headers.first(name: $0) }
            )
        else {
            respondLocally(
                ErrorResponse(
                    status: .notFound, code: "no_route",
                    message: "no route matches \(head.method) \(Self.pathOnly(path))"))
            return
        }
        let route = routes.routes[routeIndex]
        let definition = route.definition
        let overrideIndex = route.overrideIndex(for: head.headers.first(name: definition.overrideHeader))
        let stickyKey = definition.sticky.flatMap { Self.stickyKey($0, in: head.headers) }
        let chosen = VersionSelector.select(
            split: route.split,
            overrideIndex: overrideIndex,
            stickyKey: stickyKey,
            using: &loop.random
        )
        let version = route.versions[chosen.index]
        self.route = route
        self.version = version
        loop.inFlight += 1

        var forwarded = head
        forwarded.version = .http1_1
        let findings = HopByHopHeaders.strip(&forwarded.headers)
        if findings.wasChunked && !forwarded.headers.contains(name: "content-length") {
            forwarded.headers.add(name: "transfer-encoding", value: "chunked")
        }
        addForwardingHeaders(&forwarded.headers, original: head.headers)
        upstreamHead = forwarded
        buffered.removeAll(keepingCapacity: true)
        buffered.append(.head(forwarded))

        if findings.expectsContinue {
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        exchangeDeadline = startedAt + route.timeout
        armTimer(exchangeDeadline)
        connectRetriesLeft = version.upstreams.count > 1 ? 1 : 0
        acquireUpstream(version.nextUpstream(at: startedAt.uptimeNanoseconds), allowReuse: true)
    }

    private func acquireUpstream(_ pool: UpstreamPool, allowReuse: Bool) {
        state = .connecting
        currentPool = pool
        if allowReuse, let idle = pool.takeIdle() {
            attach(idle)
            return
        }
        let remaining =
            (route?.timeout ?? .seconds(30))
            - TimeAmount.nanoseconds(Int64(NIODeadline.now().uptimeNanoseconds - startedAt.uptimeNanoseconds))
        let exchange = exchangeNumber
        pool.connect(timeout: max(remaining, .milliseconds(1))) { [self] result in
            guard state == .connecting, exchange == exchangeNumber else {
                // The exchange ended (timeout, client gone) while connecting.
                if case .success(let handler) = result { handler.detach(reusable: true) }
                return
            }
            switch result {
            case .success(let handler):
                attach(handler)
            case .failure(let error):
                pool.health.record(success: false, at: NIODeadline.now().uptimeNanoseconds)
                if connectRetriesLeft > 0, let version {
                    // Nothing reached any upstream yet (the request is held in `buffered`): another
                    // upstream of the same version may take it.
                    connectRetriesLeft -= 1
                    acquireUpstream(
                        version.nextUpstream(at: NIODeadline.now().uptimeNanoseconds, avoiding: pool), allowReuse: true)
                    return
                }
                currentPool = nil
                failBeforeResponse(
                    kind: .connect,
                    status: .badGateway,
                    code: "upstream_unreachable",
                    message: "cannot connect to \(pool.address) (\(error))"
                )
            }
        }
    }

    private func attach(_ handler: UpstreamHandler) {
        handler.attach(self)
        upstream = handler
        state = .proxying
        for part in buffered { handler.write(part) }
        buffered.removeAll(keepingCapacity: true)
        handler.flush()
        if readPending && handler.isWritable {
            readPending = false
            context.read()
        }
    }

    private func forward(_ part: HTTPClientRequestPart) {
        switch state {
        case .connecting:
            buffered.append(part)
        case .proxying:
            upstream?.write(part)
        case .idle, .discarding:
            break
        }
    }

    private func addForwardingHeaders(_ headers: inout HTTPHeaders, original: HTTPHeaders) {
        if let clientAddress {
            if let previous = original.first(name: "x-forwarded-for") {
                headers.replaceOrAdd(name: "x-forwarded-for", value: previous + ", " + clientAddress)
            } else {
                headers.add(name: "x-forwarded-for", value: clientAddress)
            }
        }
        if !original.contains(name: "x-forwarded-proto") { headers.add(name: "x-forwarded-proto", value: localScheme) }
        if !original.contains(name: "x-forwarded-host"), let host = original.first(name: "host") {
            headers.add(name: "x-forwarded-host", value: host)
        }
    }

    // MARK: Response side (UpstreamResponseSink)

    var clientIsWritable: Bool { context.channel.isWritable }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard state == .proxying, let route, let version else { return }
        firstByteAt = .now()
        responseStatus = Int(head.status.code)
        var response = head
        response.version = requestVersion
        let findings = HopByHopHeaders.strip(&response.headers)
        if findings.wasChunked && !isStream && !response.headers.contains(name: "content-length") {
            response.headers.add(name: "transfer-encoding", value: "chunked")
        }
        if isGRPC && response.headers.contains(name: "grpc-status") {
            // Trailers-only answer: keep the status; HTTP/2 carries it as trailers after this head.
            var status = HTTPHeaders()
            for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
                for value in response.headers[name] { status.add(name: name, value: value) }
                if isStream { response.headers.remove(name: name) }
            }
            headGRPCStatus = status
        }
        response.headers.add(name: "x-weir-version", value: version.name)
        response.headers.add(name: "x-weir-route", value: route.definition.name)
        if loop.draining && !isStream { keepAlive = false }
        if !keepAlive { response.headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard state == .proxying else { return }
        responseBytes &+= body.readableBytes
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }

    func upstreamResponseEnd(_ trailers: HTTPHeaders?) {
        guard state == .proxying, let upstream else { return }
        responseComplete = true
        let now = NIODeadline.now()
        upstream.detach(reusable: requestComplete)
        self.upstream = nil
        let failure = isGRPC ? grpcFailure(trailers: trailers) : nil
        logAccess(status: responseStatus, error: failure?.rawValue, at: now)
        finishExchange(outcome: outcome(failure: failure, at: now), at: now)
        if !requestComplete && !isStream {
            // The upstream answered before the request body ended: finish the answer, then close.
            keepAlive = false
        }
        let keepAlive = self.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(trailers ?? (isStream ? headGRPCStatus : nil))), promise: nil)
        if !keepAlive { context.close(promise: nil) }
    }

    /// How a finished gRPC call counts: a status other than OK is a `grpc` error; a 200 without
    /// any status is a cut stream.
    private func grpcFailure(trailers: HTTPHeaders?) -> ErrorKind? {
        switch GRPCCall.status((trailers ?? headGRPCStatus)?.first(name: "grpc-status")) {
        case GRPCCall.Code.ok.rawValue: nil
        case .some: .grpc
        case nil: responseStatus == 200 ? .reset : nil
        }
    }

    func upstreamReadComplete() {
        context.flush()
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable && readPending && state == .proxying {
            readPending = false
            context.read()
        }
    }

    func upstreamClosed(error: (any Error)?) {
        guard state == .proxying, let upstream else { return }
        self.upstream = nil
        if firstByteAt == nil, upstream.uses > 1, requestComplete, !requestHadBody, !retriedStaleConnection,
            let version, let upstreamHead
        {
            // A pooled connection the upstream had closed while idle: the request never reached it,
            // so sending it again on a fresh connection is safe.
            retriedStaleConnection = true
            buffered = [.head(upstreamHead), .end(nil)]
            acquireUpstream(
                version.upstreams.first { $0 === upstream.pool }
                    ?? version.nextUpstream(at: startedAt.uptimeNanoseconds),
                allowReuse: false)
            return
        }
        if firstByteAt == nil {
            failBeforeResponse(
                kind: .reset, status: .badGateway, code: "upstream_reset",
                message: "the upstream closed the connection before answering")
        } else {
            failAfterResponseBegan(
                kind: .reset, status: .badGateway, code: "upstream_reset",
                message: "the upstream closed the connection mid-response")
        }
    }

    // MARK: Ending an exchange

    private func timedOut() {
        guard state == .connecting || state == .proxying else { return }
        let timeout = route?.timeout ?? .zero
        if let upstream {
            upstream.detach(reusable: false)
            self.upstream = nil
        }
        if firstByteAt == nil {
            failBeforeResponse(
                kind: .timeout,
                status: .gatewayTimeout,
                code: "upstream_timeout",
                message: "no answer from the upstream within \(Self.describe(timeout))"
            )
        } else {
            failAfterResponseBegan(
                kind: .timeout, status: .gatewayTimeout, code: "upstream_timeout",
                message: "the upstream did not finish within \(Self.describe(timeout))")
        }
    }

    /// The upstream failed after the response head went out. An HTTP response is cut, so the client
    /// sees a truncated body; a gRPC call over HTTP/2 ends properly with the failure as its status.
    private func failAfterResponseBegan(kind: ErrorKind, status: HTTPResponseStatus, code: String, message: String) {
        let now = NIODeadline.now()
        let response = ErrorResponse(
            status: status, code: code, message: message, route: route?.definition.name, version: version?.name)
        logAccess(
            status: isGRPC && isStream ? responseStatus : nil, error: code, route: response.route,
            version: response.version, at: now)
        finishExchange(outcome: outcome(failure: kind, at: now), at: now)
        if isGRPC && isStream {
            context.writeAndFlush(wrapOutboundOut(.end(response.grpcTrailers)), promise: nil)
        } else {
            context.close(promise: nil)
        }
    }

    /// The upstream failed before any response byte: answer with a JSON error and count it.
    private func failBeforeResponse(kind: ErrorKind, status: HTTPResponseStatus, code: String, message: String) {
        let now = NIODeadline.now()
        let outcome = outcome(failure: kind, at: now)
        let response = ErrorResponse(
            status: status, code: code, message: message, route: route?.definition.name, version: version?.name)
        finishExchange(outcome: outcome, at: now)
        respondLocally(response, at: now)
    }

    /// Ends the exchange; `now` is the instant the outcome was measured at (one clock read per request end).
    private func finishExchange(outcome: RequestOutcome?, at now: NIODeadline = .now()) {
        exchangeDeadline = .distantFuture
        if let outcome, let version {
            loop.record(outcome, series: version.series, at: now)
            if let currentPool {
                let failed = outcome.failure != nil || (outcome.status ?? 200) >= 500
                currentPool.health.record(success: !failed, at: now.uptimeNanoseconds)
            }
        }
        currentPool = nil
        if route != nil { loop.inFlight -= 1 }
        route = nil
        buffered.removeAll(keepingCapacity: true)
        upstreamHead = nil
        state = .idle
        armIdleTimer(from: now)
    }

    private func outcome(failure: ErrorKind?, at now: NIODeadline) -> RequestOutcome {
        RequestOutcome(
            status: failure == nil ? responseStatus : nil,
            failure: failure,
            firstByteNanos: firstByteAt.map { $0.uptimeNanoseconds - startedAt.uptimeNanoseconds },
            totalNanos: now.uptimeNanoseconds - startedAt.uptimeNanoseconds
        )
    }

    /// Writes a response of Weir's own. With keep-alive the connection stays open and any rest of the
    /// request body is read and dropped; otherwise it closes.
    private func respondLocally(_ response: ErrorResponse, at now: NIODeadline = .now()) {
        let close = !isStream && (!keepAlive || loop.draining)
        if isGRPC {
            logAccess(status: 200, error: response.code, route: response.route, version: response.version, at: now)
            context.write(
                wrapOutboundOut(.head(response.grpcHead(version: requestVersion, closeConnection: close))),
                promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(response.grpcTrailers)), promise: nil)
        } else {
            let body = response.body(allocator: context.channel.allocator)
            responseBytes = body.readableBytes
            logAccess(
                status: Int(response.status.code), error: response.code, route: response.route,
                version: response.version, at: now)
            context.write(
                wrapOutboundOut(
                    .head(
                        response.head(version: requestVersion, closeConnection: close, bodyLength: body.readableBytes))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        responseComplete = true
        if close {
            state = .discarding
            context.close(promise: nil)
        } else if requestComplete {
            state = .idle
            armIdleTimer()
        } else {
            state = .discarding
        }
    }

    /// One access-log line for the current exchange, when the access log is on (once per exchange:
    /// it forgets the head). `route` and `version` default to the exchange's, which a response of
    /// weir's own outlives.
    private func logAccess(
        status: Int?, error: String?, route routeName: String? = nil, version versionName: String? = nil,
        at now: NIODeadline
    ) {
        guard let accessLog = loop.accessLog, let head = loggedHead else { return }
        loggedHead = nil
        accessLog.write(
            AccessLog.Entry(
                client: clientAddress, method: head.method.rawValue, uri: head.uri,
                httpVersion: "HTTP/\(head.version.major).\(head.version.minor)", status: status, bytes: responseBytes,
                userAgent: head.headers.first(name: "user-agent"), route: routeName ?? route?.definition.name,
                version: versionName ?? version?.name,
                firstByteNanos: firstByteAt.map { $0.uptimeNanoseconds - startedAt.uptimeNanoseconds },
                totalNanos: now.uptimeNanoseconds - startedAt.uptimeNanoseconds, error: error))
    }

    private func endDiscarding() {
        state = .idle
        armIdleTimer()
    }

    // MARK: Helpers

    private static func stickyKey(_ source: StickyKeySource, in headers: HTTPHeaders) -> Substring? {
        switch source {
        case .header(let name):
            return headers.first(name: name).map { Substring($0) }
        case .cookie(let name):
            for cookieHeader in headers[canonicalForm: "cookie"] {
                for pair in cookieHeader.split(separator: ";") {
                    let trimmed = pair.drop { $0 == " " }
                    if trimmed.hasPrefix(name), trimmed.dropFirst(name.count).first == "=" {
                        return trimmed.dropFirst(name.count + 1)
                    }
                }
            }
            return nil
        }
    }

    private static func pathOnly(_ uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(uri)
    }

    private static func describe(_ amount: TimeAmount) -> String {
        let millis = amount.nanoseconds / 1_000_000
        return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(millis)ms"
    }
}

@available(*, unavailable)
extension ProxyHandler: Sendable {}
