import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import WeirCore

/// Connections to one upstream, owned by one event loop: a request on that loop takes an idle
/// keep-alive connection (HTTP/1.1) or opens a stream on the shared multiplexed connection
/// (HTTP/2) without a lock or a thread hop, or dials a new connection on the same loop.
///
/// `http://` speaks HTTP/1.1, `h2c://` HTTP/2 with prior knowledge, `https://` TLS with ALPN
/// preferring h2 — the pool learns from the first handshake which of the two the upstream speaks.
///
/// HTTP/1.1 exchanges without an idle connection wait in one queue, as in Envoy's pools: a dial is
/// made for each waiting exchange no dial is under way for yet (at most `maxDialsInFlight` at
/// once, within `max_connections`), and whichever connection is ready first — a dial done or an
/// exchange finished — serves the oldest waiter. A burst does not open one connection per request
/// when connections come free sooner, and an exchange that goes away (a reset stream, a timeout)
/// leaves the queue without having started a dial of its own; the dial it caused serves the next.
final class UpstreamPool {
    /// Connections being dialled at once for one pool (per event loop): a burst or a flood of new
    /// exchanges opens connections at this pace, the rest wait for the first ones to be ready.
    static let maxDialsInFlight = 32

    /// Two pools serve the same upstream only when all of this matches: a reload that changes the
    /// TLS set-up (CA file, versions, suites), the ejection settings or the breakers gets a fresh
    /// pool, not a stale one.
    struct Key: Hashable {
        var address: UpstreamAddress
        /// `RouteDefinition.upstreamTLSKey`.
        var tls: UpstreamTLSKey
        var ejection: OutlierDetector.Settings
        var breakers: CircuitBreakers
    }

    /// What an acquisition came to.
    enum Acquired {
        /// A connection (or HTTP/2 stream) for the exchange; `reused`: it carried an exchange before.
        case connection(UpstreamHandler, reused: Bool)
        /// The circuit breaker refused: too many requests in flight or waiting.
        case overflow(String)
        case failed(any Error)
    }

    let address: UpstreamAddress
    let eventLoop: any EventLoop
    private let socketAddress: SocketAddress?
    private var idle: [UpstreamHandler] = []
    private let connectTimeout: TimeAmount
    private let tls: NIOSSLContext?
    /// This loop's share of the route's circuit breakers.
    let breakers: CircuitBreakers
    /// Passive health: failures in a row eject this upstream for this loop.
    var health = OutlierDetector()

    /// What the upstream speaks: fixed by `http`/`h2c`, learned from ALPN for `https` (nil until then).
    private var transport: Transport?
    /// The multiplexed connection HTTP/2 exchanges share.
    private var shared: HTTP2UpstreamConnection?
    /// Exchanges waiting for the shared connection (or for the first handshake) to be made.
    private var waiting: [(Result<UpstreamHandler, any Error>) -> Void] = []
    private var dialing = false
    /// HTTP/1.1 dials under way (they count against `maxConnections`).
    private(set) var dialsInFlight = 0
    /// Exchanges waiting for an HTTP/1.1 connection (being dialled, or to come free), oldest first.
    private var pending: [(ticket: Int, completion: (Acquired) -> Void)] = []
    private var nextTicket = 0
    /// Connections to this upstream open on this loop (pooled, in use, or shared HTTP/2).
    private(set) var openConnections = 0
    /// Exchanges using a connection or stream of this pool right now.
    private(set) var activeRequests = 0
    /// Removed from the routing table by a reload: finishes what it carries, takes nothing new.
    private var retired = false
    /// HTTP/1.1 connections resting in the pool.
    var idleConnections: Int { idle.count }

    enum Transport {
        case http1
        case http2
    }

    /// `tls` is the client context for `https://` upstreams (ignored for the others).
    init(
        address: UpstreamAddress, eventLoop: any EventLoop,
        ejection: OutlierDetector.Settings = OutlierDetector.Settings(),
        breakers: CircuitBreakers = CircuitBreakers(),
        tls: NIOSSLContext? = nil,
        connectTimeout: TimeAmount = .seconds(5)
    ) {
        self.health = OutlierDetector(settings: ejection)
        self.address = address
        self.eventLoop = eventLoop
        self.breakers = breakers
        self.connectTimeout = connectTimeout
        self.tls = tls
        switch address.scheme {
        case .http: transport = .http1
        case .h2c: transport = .http2
        case .https: transport = nil
        }
        // An IP literal needs no resolver: build its socket address once.
        self.socketAddress = try? SocketAddress(ipAddress: address.host, port: address.port)
    }

    /// What can be decided at once, within the circuit breakers: an idle HTTP/1.1 connection
    /// (`reuse`), or `overflow` when `max_requests` are in flight or waiting. Nil means the exchange
    /// must `acquire` — the common keep-alive case takes no closure and no allocation.
    func acquireNow(reuse: Bool) -> Acquired? {
        if activeRequests + waitingExchanges >= breakers.maxRequests {
            return .overflow(
                "\(address): \(activeRequests + waitingExchanges) requests in flight or waiting (max_requests \(breakers.maxRequests))"
            )
        }
        if reuse, let handler = takeIdle() { return .connection(handler, reused: true) }
        return nil
    }

    /// `overflow` when `max_pending` exchanges wait already. Else HTTP/1.1: a place in the queue (a
    /// dial starts for it when `max_connections` allow; the ticket is for `cancel`); HTTP/2: a new
    /// stream on the shared connection, once it is made. `completion` runs on this loop.
    func acquire(timeout: TimeAmount, completion: @escaping (Acquired) -> Void) -> Int? {
        guard waitingExchanges < breakers.maxPending else {
            completion(
                .overflow(
                    "\(address): \(openConnections) connections open and \(waitingExchanges) requests waiting "
                        + "(max_connections \(breakers.maxConnections), max_pending \(breakers.maxPending))"))
            return nil
        }
        guard transport == .http1 else {
            connect(timeout: timeout) { result in
                switch result {
                case .success(let handler): completion(.connection(handler, reused: false))
                case .failure(let error): completion(.failed(error))
                }
            }
            return nil
        }
        return enqueue(completion)
    }

    /// Exchanges waiting for a connection: in the HTTP/1.1 queue, or for the HTTP/2 (or not yet
    /// negotiated) connection being dialled. Both count against `max_pending` and `max_requests`.
    private var waitingExchanges: Int { pending.count + waiting.count }

    /// Queues an exchange for the next HTTP/1.1 connection and dials for it if none is on its way.
    private func enqueue(_ completion: @escaping (Acquired) -> Void) -> Int {
        nextTicket &+= 1
        pending.append((nextTicket, completion))
        dialForPending()
        return nextTicket
    }

    /// Takes a queued exchange out of the queue (it timed out or its client left).
    func cancel(ticket: Int) {
        pending.removeAll { $0.ticket == ticket }
    }

    /// An exchange took a connection of this pool.
    func exchangeStarted() {
        activeRequests += 1
    }

    /// An exchange let go of a connection of this pool.
    func exchangeEnded() {
        activeRequests -= 1
        if retired && activeRequests == 0 && pending.isEmpty { closeAll() }
    }

    /// An idle HTTP/1.1 connection if one is alive, else nil.
    private func takeIdle() -> UpstreamHandler? {
        while let handler = idle.popLast() {
            if handler.isActive { return handler }
        }
        return nil
    }

    /// Dials one HTTP/1.1 connection for each waiting exchange no dial is under way for, within
    /// `max_connections` and `maxDialsInFlight`. A dial that fails fails the oldest waiter (it may
    /// try another upstream); one that succeeds serves the oldest waiter, or rests in the pool.
    private func dialForPending() {
        while dialsInFlight < pending.count, dialsInFlight < Self.maxDialsInFlight,
            openConnections + dialsInFlight < breakers.maxConnections
        {
            dialsInFlight += 1
            dial(timeout: connectTimeout) { [self] result in
                dialsInFlight -= 1
                switch result {
                case .success(.http1(let handler)):
                    hand(handler, reused: false)
                    // Under the dial cap, waiters beyond the dials in flight get theirs now.
                    dialForPending()
                case .success(.http2(let connection)):
                    // Cannot happen: only `http://` (or ALPN's HTTP/1.1) dials here.
                    connection.close()
                    dialForPending()
                case .failure(let error):
                    // Told on a later turn of the loop: a connect can fail at once, inside the
                    // `acquire` of the exchange it would fail, and no waiter is completed from
                    // inside its own `acquire`.
                    eventLoop.assumeIsolated().execute { [self] in
                        if !pending.isEmpty { pending.removeFirst().completion(.failed(error)) }
                        dialForPending()
                    }
                }
            }
        }
    }

    /// Hands `completion` (on this pool's loop) a handler for one exchange: a new HTTP/1.1
    /// connection, or a new stream on the shared HTTP/2 connection (dialled first if needed).
    private func connect(timeout: TimeAmount, completion: @escaping (Result<UpstreamHandler, any Error>) -> Void) {
        if transport != .http1, let shared, shared.isUsable {
            shared.openStream(pool: self, completion: completion)
            return
        }
        // HTTP/2 (or not known yet): one connection is dialled, every exchange meanwhile waits for it.
        waiting.append(completion)
        guard !dialing else { return }
        dialing = true
        dial(timeout: timeout) { [self] result in
            dialing = false
            let waiters = waiting
            waiting.removeAll()
            adopt(result, for: waiters, timeout: timeout)
        }
    }

    /// Serves `waiters` from a dial's result: streams on a new HTTP/2 connection, or — when ALPN chose
    /// HTTP/1.1 — the new connection for the first waiter and connections of their own for the rest.
    private func adopt(
        _ result: Result<Dialed, any Error>, for waiters: [(Result<UpstreamHandler, any Error>) -> Void],
        timeout: TimeAmount
    ) {
        switch result {
        case .failure(let error):
            for waiter in waiters { waiter(.failure(error)) }
        case .success(.http2(let connection)):
            // A previous shared connection that went away finishes its streams on its own.
            transport = .http2
            shared = connection
            for waiter in waiters { connection.openStream(pool: self, completion: waiter) }
        case .success(.http1(let handler)):
            // ALPN chose HTTP/1.1: from now on this pool queues; the others wait in that queue.
            transport = .http1
            waiters.first?(.success(handler))
            for waiter in waiters.dropFirst() {
                _ = enqueue { acquired in
                    switch acquired {
                    case .connection(let handler, _): waiter(.success(handler))
                    case .failed(let error): waiter(.failure(error))
                    // Never: the queue does not overflow an exchange already in it.
                    case .overflow: waiter(.failure(ChannelError.ioOnClosedChannel))
                    }
                }
            }
        }
    }

    /// A freshly made connection, in the protocol it ended up speaking.
    private enum Dialed {
        case http1(UpstreamHandler)
        case http2(HTTP2UpstreamConnection)
    }

    /// Opens a TCP connection (TLS and ALPN for `https`) and sets up its pipeline.
    private func dial(timeout: TimeAmount, completion: @escaping (Result<Dialed, any Error>) -> Void) {
        let loop = eventLoop
        let negotiated = loop.makePromise(of: Dialed.self)
        let pool = NIOLoopBound(self, eventLoop: loop)
        // The initializer runs before the connect completes: it prepares the pipeline here, and the
        // dial succeeds once the connection is up (or, for TLS, once ALPN has chosen).
        let prepared = NIOLoopBound(PreparedConnection(), eventLoop: loop)
        let scheme = address.scheme
        let tls = self.tls
        let serverName = socketAddress == nil ? address.host : nil
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(min(timeout, connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    switch scheme {
                    case .http:
                        prepared.value.dialed = .http1(try Self.configureHTTP1(channel, pool: pool.value))
                    case .h2c:
                        prepared.value.dialed = .http2(try HTTP2UpstreamConnection(channel: channel, secure: false))
                    case .https:
                        guard let tls else { throw NIOSSLError.noCertificateToValidate }
                        try sync.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        try sync.addHandler(
                            ApplicationProtocolNegotiationHandler { result, channel in
                                channel.eventLoop.makeCompletedFuture {
                                    if case .negotiated("h2") = result {
                                        negotiated.assumeIsolated().succeed(
                                            .http2(try HTTP2UpstreamConnection(channel: channel, secure: true)))
                                    } else {
                                        negotiated.assumeIsolated().succeed(
                                            .http1(try Self.configureHTTP1(channel, pool: pool.value)))
                                    }
                                }
                            })
                    }
                }
            }
        let connected: EventLoopFuture<any Channel>
        if let socketAddress {
            connected = bootstrap.connect(to: socketAddress)
        } else {
            connected = bootstrap.connect(host: address.host, port: address.port)
        }
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                negotiated.fail(error)
            case .success(let channel):
                pool.value.openConnections += 1
                if let dialed = prepared.value.dialed {
                    negotiated.assumeIsolated().succeed(dialed)
                }
                channel.closeFuture.assumeIsolated().whenComplete { _ in
                    pool.value.openConnections -= 1
                    pool.value.dialForPending()
                    // A TLS handshake that fails closes the channel before ALPN completes.
                    negotiated.fail(ChannelError.ioOnClosedChannel)
                }
            }
        }
        negotiated.futureResult.assumeIsolated().whenComplete(completion)
    }

    /// What a dial's channel initializer set up, handed on once the connection is up.
    private final class PreparedConnection {
        var dialed: Dialed?
    }

    private static func configureHTTP1(_ channel: any Channel, pool: UpstreamPool) throws -> UpstreamHandler {
        let handler = UpstreamHandler(pool: pool)
        // Framing is Weir's, set explicitly by `RequestHeadRules` for every method: NIO's encoder must
        // not add or drop a length by method (it drops `content-length` from a TRACE, for one).
        var encoder = HTTPRequestEncoder.Configuration()
        encoder.automaticallySetFramingHeaders = false
        try channel.pipeline.syncOperations.addHTTPClientHandlers(encoderConfiguration: encoder)
        try channel.pipeline.syncOperations.addHandler(handler)
        return handler
    }

    /// A connection finished an exchange and can carry another: the oldest queued exchange takes
    /// it, else it rests in the pool.
    func release(_ handler: UpstreamHandler) {
        hand(handler, reused: true)
    }

    /// A connection ready for an exchange (`reused`: it carried one before): to the oldest waiter,
    /// else into the pool.
    private func hand(_ handler: UpstreamHandler, reused: Bool) {
        if !pending.isEmpty {
            // A retired pool still serves the exchanges that were waiting when it was retired.
            pending.removeFirst().completion(.connection(handler, reused: reused))
        } else if retired {
            handler.close()
        } else {
            idle.append(handler)
        }
    }

    func remove(_ handler: UpstreamHandler) {
        if let index = idle.firstIndex(where: { $0 === handler }) { idle.remove(at: index) }
    }

    /// Closes the idle connections and the shared HTTP/2 connection now (shutdown).
    func closeAll() {
        let handlers = idle
        idle.removeAll()
        for handler in handlers { handler.close() }
        shared?.close()
        shared = nil
    }

    /// The upstream left the routing table (or its settings changed): idle connections close now;
    /// exchanges in flight (HTTP/1.1 or HTTP/2 streams) finish, exchanges waiting in the queue are
    /// still served — a reload drops no request — and the last one closes what is left.
    func retire() {
        retired = true
        let handlers = idle
        idle.removeAll()
        for handler in handlers { handler.close() }
        if activeRequests == 0 && pending.isEmpty { closeAll() }
    }
}

@available(*, unavailable)
extension UpstreamPool: Sendable {}
