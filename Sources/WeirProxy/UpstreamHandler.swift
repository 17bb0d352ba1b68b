import NIOCore
import NIOHTTP1

/// Receives what one upstream connection answers and hands it to the exchange using the
/// connection; withholds reads while the client cannot take more (backpressure toward the upstream).
protocol UpstreamResponseSink: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd(_ trailers: HTTPHeaders?)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The connection closed or failed while this sink was using it.
    func upstreamClosed(error: (any Error)?)
    /// Whether the client side can take more response bytes now.
    var clientIsWritable: Bool { get }
}

/// The last handler of an upstream connection's pipeline — or of one HTTP/2 stream's. An HTTP/1
/// connection serves one exchange at a time and rests in its `UpstreamPool` between exchanges; a
/// stream serves one exchange and closes.
final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private(set) weak var pool: UpstreamPool?
    /// The exchange currently using the connection; nil while idle in the pool.
    private(set) var sink: (any UpstreamResponseSink)?
    private var readPending = false
    /// Set when the upstream said it will close, or the exchange ended early.
    private(set) var isReusable = true
    /// Exchanges this connection has carried; > 0 means a request may meet a connection the
    /// upstream closed while it was idle.
    private(set) var uses = 0

    /// Serves one HTTP/2 stream of a multiplexed connection rather than a connection of its own.
    let isStream: Bool

    init(pool: UpstreamPool, isStream: Bool = false) {
        self.pool = pool
        self.isStream = isStream
    }

    var isActive: Bool { context?.channel.isActive ?? false }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Hands the connection to an exchange.
    func attach(_ sink: any UpstreamResponseSink) {
        self.sink = sink
        uses += 1
        pool?.exchangeStarted()
    }

    /// Lets go of the exchange (it is counted in the pool's circuit breaker while attached).
    private func clearSink() {
        guard sink != nil else { return }
        sink = nil
        pool?.exchangeEnded()
    }

    /// Takes the connection back from an exchange; returns it to its pool when it can carry another.
    func detach(reusable: Bool) {
        clearSink()
        if !reusable { isReusable = false }
        guard let context else { return }
        if isReusable, !isStream, context.channel.isActive, let pool {
            pool.release(self)
            if readPending {
                readPending = false
                context.read()
            }
        } else {
            context.close(promise: nil)
        }
    }

    /// The exchange gave up on the connection. With `letFinish` (the whole request was sent) the
    /// connection reads out and drops the rest of the answer, then rests in the pool — for at most
    /// `abandonedResponseLimit` bytes and 5 s, else it closes. Otherwise it closes now.
    func abandon(letFinish: Bool) {
        guard letFinish, !isStream, isReusable, let context else {
            detach(reusable: false)
            return
        }
        clearSink()
        discarding = true
        discardBudget = Self.abandonedResponseLimit
        discardTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(5)) { [self] in
            if discarding { close() }
        }
        if readPending {
            readPending = false
            context.read()
        }
    }

    /// How much of an abandoned answer is read out to keep its connection.
    static let abandonedResponseLimit = 1 << 20
    private var discarding = false
    private var discardBudget = 0
    private var discardTimer: Scheduled<Void>?

    /// The rest of an abandoned answer was read: the connection can serve again.
    private func finishDiscarding(reusable: Bool) {
        discarding = false
        discardTimer?.cancel()
        discardTimer = nil
        if !reusable { isReusable = false }
        if isReusable, let context, context.channel.isActive, let pool {
            pool.release(self)
        } else {
            close()
        }
    }

    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func close() {
        isReusable = false
        context?.close(promise: nil)
    }

    /// Resumes reading after the client drained its buffer.
    func resumeReading() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if discarding {
            switch part {
            case .head(let head):
                if !head.isKeepAlive { isReusable = false }
            case .body(let body):
                discardBudget -= body.readableBytes
                if discardBudget < 0 { finishDiscarding(reusable: false) }
            case .end:
                finishDiscarding(reusable: true)
            }
            return
        }
        guard let sink else {
            // Bytes on an idle connection: the upstream broke the protocol; never reuse it.
            close()
            return
        }
        switch part {
        case .head(let head):
            if !head.isKeepAlive { isReusable = false }
            sink.upstreamResponseHead(head)
        case .body(let body):
            sink.upstreamResponseBody(body)
        case .end(let trailers):
            sink.upstreamResponseEnd(trailers)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        sink?.upstreamReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let sink, !sink.clientIsWritable {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        sink?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isReusable = false
        discardTimer?.cancel()
        discardTimer = nil
        pool?.remove(self)
        if let sink {
            clearSink()
            sink.upstreamClosed(error: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        isReusable = false
        if let sink {
            clearSink()
            sink.upstreamClosed(error: error)
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamHandler: Sendable {}
