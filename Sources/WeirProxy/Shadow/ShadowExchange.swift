import NIOCore
import NIOHTTP1

/// One mirrored copy of a request on its way to an upstream (the shadow, or the stable again for
/// the noise floor): it writes the captured request and keeps the answer's status and body, up to
/// a bound, then tells its comparison. Nothing it does reaches the client.
final class ShadowExchange: UpstreamResponseSink {
    /// How the copy ended.
    enum Result {
        case answered(status: Int, body: [UInt8])
        case failed(String)
    }

    private let maxBody: Int
    private var status = 0
    private var body: [UInt8] = []
    private var upstream: UpstreamHandler?
    private var timer: Scheduled<Void>?
    private var completion: ((Result) -> Void)?
    private var ticket: (pool: UpstreamPool, ticket: Int)?
    /// What to send, kept for one retry on a fresh connection when a pooled one turns out closed.
    private var parts: [HTTPClientRequestPart] = []
    private var pool: UpstreamPool?
    private var reused = false
    private var retried = false

    init(maxBody: Int, completion: @escaping (Result) -> Void) {
        self.maxBody = maxBody
        self.completion = completion
    }

    /// Sends `parts` over a connection of `pool`; gives up after `timeout`.
    func start(pool: UpstreamPool, parts: [HTTPClientRequestPart], timeout: TimeAmount) {
        self.parts = parts
        self.pool = pool
        timer = pool.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            finish(.failed("no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        send(reuse: true, timeout: timeout)
    }

    private func send(reuse: Bool, timeout: TimeAmount) {
        guard let pool else { return }
        let acquired: (UpstreamPool.Acquired) -> Void = { [self] acquired in
            ticket = nil
            switch acquired {
            case .connection(let handler, let wasUsed):
                guard completion != nil else { return handler.detach(reusable: true) }
                handler.attach(self)
                upstream = handler
                reused = wasUsed
                for part in parts { handler.write(part) }
                handler.flush()
            case .overflow(let detail): finish(.failed(detail))
            case .failed(let error): finish(.failed("cannot connect to \(pool.address) (\(error))"))
            }
        }
        if let now = pool.acquireNow(reuse: reuse) {
            acquired(now)
        } else if let number = pool.acquire(timeout: timeout, completion: acquired), completion != nil {
            ticket = (pool, number)
        }
    }

    private func finish(_ result: Result) {
        guard let completion else { return }
        self.completion = nil
        timer?.cancel()
        timer = nil
        if let (pool, number) = ticket { pool.cancel(ticket: number) }
        ticket = nil
        if let upstream {
            self.upstream = nil
            if case .answered = result { upstream.detach(reusable: true) } else { upstream.abandon(letFinish: false) }
        }
        completion(result)
    }

    func upstreamResponseHead(_ head: HTTPResponseHead) { status = Int(head.status.code) }

    func upstreamResponseBody(_ part: ByteBuffer) {
        guard body.count + part.readableBytes <= maxBody else {
            return finish(.failed("answer longer than max_body (\(maxBody) bytes)"))
        }
        body.append(contentsOf: part.readableBytesView)
    }

    func upstreamResponseEnd(_ trailers: HTTPHeaders?) { finish(.answered(status: status, body: body)) }
    func upstreamReadComplete() {}
    func upstreamWritabilityChanged(isWritable: Bool) {}
    func upstreamClosed(error: (any Error)?) {
        upstream = nil
        if reused, !retried, status == 0, completion != nil {
            // A pooled connection the upstream had closed while it rested: once more on a fresh one
            // (copies go only to versions without side effects, as the README asks).
            retried = true
            return send(reuse: false, timeout: .seconds(5))
        }
        finish(.failed("the upstream closed the connection\(error.map { " (\($0))" } ?? "")"))
    }
    var clientIsWritable: Bool { true }
}

@available(*, unavailable)
extension ShadowExchange: Sendable {}
