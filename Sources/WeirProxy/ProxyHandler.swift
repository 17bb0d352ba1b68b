import NIOCore
import NIOHTTP1
import NIOHTTP2
import WeirCore

/// Serves one client connection — or one HTTP/2 stream — by executing what its
/// `ExchangeStateMachine` decides: every channel and upstream event goes into the machine, and the
/// action that comes out is carried out here (`run`). The rules themselves — framing, deadlines,
/// retry safety, what counts against a version — live in the machine, in `RequestHeadRules` and in
/// `UpstreamSelector`, never in this type.
///
/// One request at a time (NIO's pipelining handler queues the next; an HTTP/2 stream carries one);
/// everything happens on the connection's event loop. Backpressure both ways: the client is not read
/// while the upstream cannot take more, and the upstream is not read while the client cannot.
final class ProxyHandler: ChannelDuplexHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let loop: LoopState
    private var context: ChannelHandlerContext!
    private var clientAddress: String?
    private var isTrustedProxy = false
    /// The peer's address in network-order bytes, for trusted-source checks.
    private var clientAddressBytes: [UInt8]?
    /// Whether the running exchange was pinned to its version by a believed override.
    private var pinned = false
    private let secure: Bool
    /// The HTTP/2 connection this stream belongs to; nil when the handler serves an HTTP/1.1 connection.
    private let http2Connection: HTTP2ClientConnection?
    /// Whether the stream's HEADERS frame ended it (no DATA follows); HTTP/2 only.
    private let streamHead: HTTP2StreamHeadObserver?
    private var isStream: Bool { http2Connection != nil }
    private var machine: ExchangeStateMachine
    /// A read was withheld (upstream not connected or not writable); issued when that changes.
    private var readPending = false

    // The current exchange. Plain fields, reset per request, so a request allocates no exchange object.
    private var route: LoopRoute?
    private var version: LoopVersion?
    private var upstream: UpstreamHandler?
    /// The head as forwarded upstream, kept for a replay on a fresh connection.
    private var upstreamHead: HTTPRequestHead?
    /// Request parts held while an upstream connection is being acquired.
    private var buffered: [HTTPClientRequestPart] = []
    private var startedAt = NIODeadline.uptimeNanoseconds(0)
    private var firstByteAt: NIODeadline?
    private var responseStatus: Int?
    /// Numbers exchanges so a late callback (a connect that completes after a timeout) cannot
    /// touch a later exchange on the same connection.
    private var exchangeNumber = 0
    /// The upstream the current exchange went to, for its health record.
    private var currentPool: UpstreamPool?
    /// The exchange's place in a pool's queue while it waits for a connection there.
    private var pendingTicket: (pool: UpstreamPool, ticket: Int)?
    /// One lazily re-armed timer per connection serves every deadline the machine names: it is
    /// rescheduled only when a deadline comes earlier, so a keep-alive request schedules nothing.
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
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
    /// HTTP/2: response body bytes still due by the upstream's `content-length`; the part that
    /// completes it goes out as a DATA frame with END_STREAM, so the client sees the stream end with
    /// its last byte and has no reason to reset it (curl does, and resets count against the client).
    private var streamBytesDue: Int?
    private var streamEndSent = false
    /// The request and the stable's answer, kept while a shadowed route's exchange runs.
    private var shadowCapture: ShadowMirror.Capture?
    /// Measures an LLM response (time to first token, tokens, finish) as its body passes; nil for
    /// every other response.
    private var llmMeter: LLMStreamMeter?
    /// The HTTP/2 stream's HTTP/1 translation: frames written from its context go straight to the
    /// stream (END_STREAM on the last DATA, RST_STREAM). Looked up once, when the handler is added.
    private var streamCodec: ChannelHandlerContext?

    /// `stream`: the handler serves one HTTP/2 stream of that connection (`streamHead` tells whether
    /// its HEADERS ended it); `secure`: the client came over TLS.
    init(
        loop: LoopState, stream: HTTP2ClientConnection? = nil, streamHead: HTTP2StreamHeadObserver? = nil,
        secure: Bool = false
    ) {
        self.loop = loop
        self.http2Connection = stream
        self.streamHead = streamHead
        self.secure = secure
        self.machine = ExchangeStateMachine(
            settings: stream == nil ? loop.exchangeSettings : loop.streamExchangeSettings,
            now: NIODeadline.now().uptimeNanoseconds)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let peer = context.channel.remoteAddress
        clientAddress = peer?.ipAddress
        clientAddressBytes = Self.addressBytes(peer)
        if !loop.trustedProxies.isEmpty, let bytes = clientAddressBytes {
            isTrustedProxy = loop.trustedProxies.contains { $0.contains(bytes) }
        }
        if let http2Connection {
            streamCodec = try? context.pipeline.syncOperations.context(
                handlerType: HTTP2FramePayloadToHTTP1ServerCodec.self)
            http2Connection.streamOpened(
                id: try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID))
        }
        // Added after a TLS handshake or protocol sniffing: the connection is already active.
        if context.channel.isActive { armTimer() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        http2Connection?.streamClosed()
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        run(machine.clientClosed(), now: .now())
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = NIODeadline.now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            let keepAlive = isStream || (head.isKeepAlive && !loop.draining)
            let plan = plan(for: head, now: now)
            run(machine.requestHead(plan, keepAlive: keepAlive, now: now.uptimeNanoseconds), now: now)
        case .body(let body):
            if shadowCapture != nil { captureRequestBody(body) }
            switch machine.requestBodyPart(bytes: body.readableBytes, now: now.uptimeNanoseconds) {
            case .forwardBodyPart: upstream?.write(.body(.byteBuffer(body)))
            case .bufferBodyPart: buffered.append(.body(.byteBuffer(body)))
            case let action: run(action, now: now)
            }
        case .end(var trailers):
            if let route, trailers != nil { route.removePinHeaders(from: &trailers!) }
            shadowCapture?.parts.append(.end(trailers))
            switch machine.requestEnd(now: now.uptimeNanoseconds) {
            case .forwardEnd: upstream?.write(.end(trailers))
            case .bufferEnd: buffered.append(.end(trailers))
            case let action: run(action, now: now)
            }
        }
        armTimer()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        upstream?.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if machine.isAcquiring || !(upstream?.isWritable ?? true) {
            // Nothing may pile up while the upstream cannot take it; the client's body clock stops.
            readPending = true
            machine.readsPaused(now: NIODeadline.now().uptimeNanoseconds)
            armTimer()
        } else {
            context.read()
        }
    }

    private func resumeReading() {
        guard readPending, !machine.isAcquiring, upstream?.isWritable ?? true else { return }
        readPending = false
        machine.readsResumed(now: NIODeadline.now().uptimeNanoseconds)
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Deadlines

    /// Makes sure the timer fires no later than the machine's deadline.
    private func armTimer() {
        guard let due = machine.deadline, context != nil else { return }
        let deadline = NIODeadline.uptimeNanoseconds(due)
        if timer != nil && timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = .distantFuture
            let now = NIODeadline.now()
            run(machine.timerFired(now: now.uptimeNanoseconds), now: now)
            armTimer()
        }
    }

    // MARK: Request head

    /// Checks, routes and prepares the head; the plan tells the machine what comes next.
    private func plan(for head: HTTPRequestHead, now: NIODeadline) -> ExchangeStateMachine.Plan {
        startedAt = now
        exchangeNumber &+= 1
        firstByteAt = nil
        responseStatus = nil
        requestVersion = head.version
        isGRPC = GRPCCall.isCall(head.headers)
        headGRPCStatus = nil
        responseBytes = 0
        llmMeter = nil
        dropShadowCapture()
        if loop.accessLog != nil { loggedHead = head }
        route = nil
        version = nil

        let prepared: RequestHeadRules.Prepared
        switch RequestHeadRules.prepare(
            head, isHTTP2: isStream, headersEndedStream: streamHead?.headersEndedStream ?? false,
            client: RequestHeadRules.Client(address: clientAddress, secure: secure, isTrustedProxy: isTrustedProxy))
        {
        case .failure(let failure): return .rejected(failure)
        case .success(let value): prepared = value
        }
        var forwarded = prepared.forwarded
        let routes = loop.routes
        guard
            let routeIndex = routes.table.routeIndex(
                path: forwarded.uri,
                host: forwarded.headers.first(name: "host"),
                headerValue: { forwarded.headers.first(name: $0) }
            )
        else {
            return .rejected(.noRoute("no route matches \(head.method) \(Self.pathOnly(forwarded.uri))"))
        }
        let route = routes.routes[routeIndex]
        let definition = route.definition
        let pinnedIndex = route.pinnedIndex(headers: forwarded.headers, clientAddress: clientAddressBytes)
        route.removePinHeaders(from: &forwarded.headers)
        let stickyKey = definition.sticky.flatMap { Self.stickyKey($0, in: head.headers) }
        let chosen = VersionSelector.select(
            split: route.split, overrideIndex: pinnedIndex, stickyKey: stickyKey, using: &loop.random)
        pinned = chosen.reason == .override
        let version = route.versions[chosen.index]
        self.route = route
        self.version = version
        loop.inFlight += 1
        upstreamHead = forwarded
        buffered.removeAll(keepingCapacity: true)
        buffered.append(.head(forwarded))
        // Only what the configured stable answers is copied: a canary's own answer is no reference,
        // and after a promotion (the shadow now the stable) there is nothing left to compare.
        if let shadow = definition.shadow, !pinned, chosen.index == route.split.stableIndex,
            chosen.index == definition.stableIndex,
            shadow.percent >= 100 || Double(loop.random.next() % 10_000) < shadow.percent * 100,
            loop.shadow.reserve(shadow, route: definition.name)
        {
            shadowCapture = ShadowMirror.Capture(parts: [.head(forwarded)])
        }
        if prepared.expectsContinue {
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        return .routed(
            ExchangeStateMachine.Routed(
                isIdempotent: prepared.isIdempotent, hasBody: prepared.hasBody,
                timeout: UInt64(route.timeout.nanoseconds), connectRetries: version.upstreams.count > 1 ? 1 : 0))
    }

    // MARK: Executing actions

    private func run(_ action: ExchangeStateMachine.Action, now: NIODeadline) {
        switch action {
        case .none, .dropBodyPart, .forwardBodyPart, .bufferBodyPart, .forwardEnd, .bufferEnd, .sendBuffered,
            .forwardResponseHead, .forwardResponseBodyPart, .releaseUpstream, .finishResponse:
            // Executed where the part (or the connection, or the trailers) is at hand.
            break
        case .acquireUpstream(let reuse, let avoidPrevious, let replay):
            acquireUpstream(reuse: reuse, avoidPrevious: avoidPrevious, replay: replay, now: now)
        case .answer(let failure, let close, let resetStream):
            dropUpstream()
            let response = ErrorResponse(failure: failure, route: route?.definition.name, version: version?.name)
            if route != nil, let kind = failure.errorKind { record(failure: kind, at: now) }
            respondLocally(response, close: close, at: now)
            endExchange()
            if close {
                context.close(promise: nil)
            } else if resetStream {
                self.resetStream()
            }
        case .cutResponse(let failure):
            dropUpstream()
            let response = ErrorResponse(failure: failure, route: route?.definition.name, version: version?.name)
            // An LLM stream cut mid-way is a failure of its own kind (`stream`), with what it showed.
            let llm = llmMeter?.finish(now: now.uptimeNanoseconds, cut: true)
            var kind = failure.errorKind
            if llm != nil && kind == .reset { kind = .stream }
            logAccess(status: isGRPC && isStream ? responseStatus : nil, error: kind == .stream ? "stream" : failure.name, at: now)
            if let kind { record(failure: kind, llm: llm, at: now) }
            endExchange()
            if isGRPC && isStream {
                context.writeAndFlush(wrapOutboundOut(.end(response.grpcTrailers)), promise: nil)
            } else {
                context.close(promise: nil)
            }
        case .close:
            context.close(promise: nil)
        case .resetStream:
            resetStream()
        case .abandon(let upstreamCanFinish):
            // The client left mid-exchange: not the version's fault, so nothing is recorded.
            logAccess(status: nil, error: "client_closed", at: now)
            if isStream { http2Connection?.streamAbandoned(lifetime: now - startedAt) }
            dropUpstream(letFinish: upstreamCanFinish)
            endExchange()
        }
    }

    private func acquireUpstream(reuse: Bool, avoidPrevious: Bool, replay: Bool, now: NIODeadline) {
        guard let version, let route else { return }
        if replay, let upstreamHead { buffered = [.head(upstreamHead), .end(nil)] }
        let pool: UpstreamPool
        if avoidPrevious {
            pool = version.nextUpstream(at: now.uptimeNanoseconds, avoiding: currentPool)
        } else if replay, let currentPool {
            pool = currentPool
        } else {
            pool = version.nextUpstream(at: now.uptimeNanoseconds)
        }
        currentPool = pool
        if let acquired = pool.acquireNow(reuse: reuse) {
            acquiredUpstream(acquired, from: pool, now: now)
            return
        }
        let exchange = exchangeNumber
        let remaining = route.timeout - (now - startedAt)
        var answered = false
        let ticket = pool.acquire(timeout: max(remaining, .milliseconds(1))) { [self] acquired in
            answered = true
            guard exchange == exchangeNumber else {
                // The exchange ended (timeout, client gone) meanwhile: the connection goes back.
                if case .connection(let handler, _) = acquired { handler.detach(reusable: true) }
                return
            }
            pendingTicket = nil
            acquiredUpstream(acquired, from: pool, now: .now())
            armTimer()
        }
        // A ticket is kept only while its exchange waits in that pool's queue: one answered at once
        // (an overflow) must not overwrite the ticket of whatever the exchange did next.
        if let ticket, !answered { pendingTicket = (pool, ticket) }
    }

    /// What the pool gave the exchange goes into the machine; a connection it no longer wants goes back.
    private func acquiredUpstream(_ acquired: UpstreamPool.Acquired, from pool: UpstreamPool, now: NIODeadline) {
        switch acquired {
        case .connection(let handler, let reused):
            if machine.upstreamAcquired(reused: reused) == .sendBuffered {
                attach(handler)
            } else {
                handler.detach(reusable: true)
            }
        case .overflow(let detail):
            run(machine.upstreamAcquireFailed(overflow: true, detail: detail, now: now.uptimeNanoseconds), now: now)
        case .failed(let error):
            pool.health.record(success: false, at: now.uptimeNanoseconds)
            let detail = "cannot connect to \(pool.address) (\(error))"
            run(machine.upstreamAcquireFailed(overflow: false, detail: detail, now: now.uptimeNanoseconds), now: now)
        }
    }

    private func attach(_ handler: UpstreamHandler) {
        handler.attach(self)
        upstream = handler
        for part in buffered { handler.write(part) }
        buffered.removeAll(keepingCapacity: true)
        handler.flush()
        resumeReading()
    }

    /// Lets go of whatever upstream the exchange holds or waits for. The connection is not reused
    /// (it may be mid-request or mid-response) unless `letFinish`: the whole request went up, so it
    /// may read out its answer and serve again (`UpstreamHandler.abandon`).
    private func dropUpstream(letFinish: Bool = false) {
        if let (pool, ticket) = pendingTicket {
            pool.cancel(ticket: ticket)
            pendingTicket = nil
        }
        if let upstream {
            self.upstream = nil
            upstream.abandon(letFinish: letFinish)
        }
    }

    /// Ends the exchange's bookkeeping; the machine has already moved on.
    private func endExchange() {
        if route != nil { loop.inFlight -= 1 }
        dropShadowCapture()
        route = nil
        version = nil
        currentPool = nil
        upstreamHead = nil
        buffered.removeAll(keepingCapacity: true)
        if readPending && !machine.isClosed {
            readPending = false
            context.read()
        }
    }

    /// Resets this HTTP/2 stream with `NO_ERROR`: the answer is complete, the client may stop sending
    /// (RFC 9113 §8.1). Written below the HTTP/1 translation, straight to the stream.
    private func resetStream() {
        guard let streamCodec else {
            context.close(promise: nil)
            return
        }
        streamCodec.writeAndFlush(NIOAny(HTTP2Frame.FramePayload.rstStream(.noError)), promise: nil)
    }

    // MARK: Response side (UpstreamResponseSink)

    var clientIsWritable: Bool { context.channel.isWritable }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard machine.responseHead() == .forwardResponseHead, let route, let version else { return }
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
        if loop.draining { machine.drainStarted() }
        if machine.closesAfterResponse { response.headers.add(name: "connection", value: "close") }
        streamEndSent = false
        streamBytesDue = nil
        if isStream && !isGRPC, let length = response.headers.first(name: "content-length").flatMap({ Int($0) }),
            length > 0
        {
            streamBytesDue = length
        }
        llmMeter = isGRPC ? nil : Self.meter(for: head, route: route.definition.llm, startedAt: startedAt.uptimeNanoseconds)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    /// The meter for a 2xx response: every SSE stream (reported when it looks like a completion, or
    /// always on a route that declares `llm`), and a declared LLM route's JSON completions.
    private static func meter(for head: HTTPResponseHead, route llm: LLMAPI?, startedAt: UInt64) -> LLMStreamMeter? {
        // A refusal (4xx) or failure (5xx) keeps its status kind, whatever its body looks like.
        guard (200..<300).contains(head.status.code), let type = head.headers.first(name: "content-type") else {
            return nil
        }
        if Self.startsIgnoringCase(type, "text/event-stream") {
            return LLMStreamMeter(framing: .events, requireShape: llm == nil, startedAt: startedAt)
        }
        if llm != nil, Self.startsIgnoringCase(type, "application/json") {
            return LLMStreamMeter(framing: .document, requireShape: false, startedAt: startedAt)
        }
        return nil
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard machine.responseBodyPart() == .forwardResponseBodyPart, !streamEndSent else { return }
        responseBytes &+= body.readableBytes
        if shadowCapture != nil { shadowCapture!.keep(response: body, maxBody: route?.definition.shadow?.maxBody ?? 0) }
        if llmMeter != nil {
            let now = NIODeadline.now().uptimeNanoseconds
            body.withUnsafeReadableBytes { llmMeter!.read($0, now: now) }
        }
        if let due = streamBytesDue {
            if body.readableBytes == due, let codec = streamCodec {
                streamEndSent = true
                codec.write(
                    NIOAny(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(body), endStream: true))), promise: nil)
                return
            }
            streamBytesDue = due - body.readableBytes
        }
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }

    func upstreamResponseEnd(_ trailers: HTTPHeaders?) {
        let now = NIODeadline.now()
        guard case .finishResponse(let reuse, let close, let reset) = machine.responseEnd(now: now.uptimeNanoseconds),
            let upstream
        else { return }
        self.upstream = nil
        upstream.detach(reusable: reuse)
        // The capture (and its reserved place) moves to the copies, or is given back below.
        let capture = shadowCapture
        let mirror = capture.flatMap { capture in route.map { (capture, $0, currentPool) } }
        shadowCapture = nil
        var failure = isGRPC ? grpcFailure(trailers: trailers) : nil
        let llm = llmMeter?.finish(now: now.uptimeNanoseconds, cut: false)
        if failure == nil, llm?.streamError == true { failure = .stream }
        logAccess(status: responseStatus, error: failure?.rawValue, at: now)
        record(failure: failure, llm: llm, at: now)
        endExchange()
        if streamEndSent {
            context.flush()
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(trailers ?? (isStream ? headGRPCStatus : nil))), promise: nil)
        }
        if close {
            context.close(promise: nil)
        } else if reset {
            resetStream()
        }
        armTimer()
        // The client has its answer: only now do the copies go out.
        if let (capture, route, pool) = mirror, failure == nil, let status = responseStatus {
            loop.shadow.mirror(capture, status: status, route: route, primary: pool, now: now.uptimeNanoseconds)
        } else if capture != nil {
            loop.shadow.release()
        }
    }

    /// Drops the exchange's capture, if any, and gives its place back.
    private func dropShadowCapture() {
        guard shadowCapture != nil else { return }
        shadowCapture = nil
        loop.shadow.release()
    }

    /// Keeps a shadowed request's body part for the copies, or gives the copy up past `max_body`.
    private func captureRequestBody(_ body: ByteBuffer) {
        guard let route, let maxBody = route.definition.shadow?.maxBody else { return }
        shadowCapture!.bodyBytes += body.readableBytes
        if shadowCapture!.bodyBytes > maxBody {
            dropShadowCapture()
            loop.shadow.book.recordShed(route: route.definition.name)
        } else {
            shadowCapture!.parts.append(.body(.byteBuffer(body)))
        }
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
        if isWritable { resumeReading() }
    }

    func upstreamClosed(error: (any Error)?) {
        guard upstream != nil else { return }
        upstream = nil
        let now = NIODeadline.now()
        run(machine.upstreamClosed(now: now.uptimeNanoseconds), now: now)
        armTimer()
    }

    // MARK: Recording and answering

    /// Records the finished exchange for its version and the upstream's health.
    private func record(failure: ErrorKind?, llm: LLMFacts? = nil, at now: NIODeadline) {
        guard let version else { return }
        llmMeter = nil
        let outcome = RequestOutcome(
            status: failure == nil ? responseStatus : nil,
            failure: failure,
            firstByteNanos: firstByteAt.map { $0.uptimeNanoseconds - startedAt.uptimeNanoseconds },
            totalNanos: now.uptimeNanoseconds - startedAt.uptimeNanoseconds,
            llm: llm
        )
        // The weight of the split this request was routed under, not the one in force now.
        loop.record(
            outcome, series: pinned ? version.pinnedSeries : version.series,
            routedAt: route?.split.canaryBasisPoints ?? 0, at: now)
        // Pinned requests are not evidence of an upstream's health either: a pinned flood must not
        // eject the upstreams that weighted traffic uses.
        if let currentPool, !pinned, failure?.reflectsUpstream ?? true {
            let failed = failure != nil || (responseStatus ?? 200) >= 500
            currentPool.health.record(success: !failed, at: now.uptimeNanoseconds)
        }
    }

    /// Writes a response of Weir's own (the connection's fate is the caller's).
    private func respondLocally(_ response: ErrorResponse, close: Bool, at now: NIODeadline) {
        if isGRPC {
            logAccess(status: 200, error: response.code, at: now)
            context.write(
                wrapOutboundOut(.head(response.grpcHead(version: requestVersion, closeConnection: close))),
                promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(response.grpcTrailers)), promise: nil)
        } else {
            let body = response.body(allocator: context.channel.allocator)
            responseBytes = body.readableBytes
            logAccess(status: Int(response.status.code), error: response.code, at: now)
            context.write(
                wrapOutboundOut(
                    .head(
                        response.head(version: requestVersion, closeConnection: close, bodyLength: body.readableBytes))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// One access-log line for the current exchange, when the access log is on (once per exchange:
    /// it forgets the head).
    private func logAccess(status: Int?, error: String?, at now: NIODeadline) {
        guard let accessLog = loop.accessLog, let head = loggedHead else { return }
        loggedHead = nil
        accessLog.write(
            AccessLog.Entry(
                client: clientAddress, method: head.method.rawValue, uri: head.uri,
                httpVersion: "HTTP/\(head.version.major).\(head.version.minor)", status: status, bytes: responseBytes,
                userAgent: head.headers.first(name: "user-agent"), route: route?.definition.name,
                version: version?.name,
                firstByteNanos: firstByteAt.map { $0.uptimeNanoseconds - startedAt.uptimeNanoseconds },
                totalNanos: now.uptimeNanoseconds - startedAt.uptimeNanoseconds, error: error))
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

    /// The peer's address in network order, as the socket holds it (no text round trip). The
    /// address sits at byte 4 of a `sockaddr_in` and byte 8 of a `sockaddr_in6` (POSIX layout, Linux
    /// and Darwin alike).
    private static func addressBytes(_ address: SocketAddress?) -> [UInt8]? {
        switch address {
        case .v4(let v4): withUnsafeBytes(of: v4.address) { Array($0[4..<8]) }
        case .v6(let v6): withUnsafeBytes(of: v6.address) { Array($0[8..<24]) }
        default: nil
        }
    }

    /// Whether `text` begins with the lowercase ASCII `prefix`, in any case (no lowercased copy).
    private static func startsIgnoringCase(_ text: String, _ prefix: StaticString) -> Bool {
        prefix.withUTF8Buffer { prefix in
            var utf8 = text.utf8.makeIterator()
            for expected in prefix {
                guard let byte = utf8.next(), byte | (byte >= 0x41 && byte <= 0x5A ? 0x20 : 0) == expected else {
                    return false
                }
            }
            return true
        }
    }

    private static func pathOnly(_ uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(uri)
    }
}

@available(*, unavailable)
extension ProxyHandler: Sendable {}
