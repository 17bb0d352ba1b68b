import NIOCore
import NIOSSL
import WeirCore

/// Everything the data plane keeps per event loop: the installed routes, the pools, the loop's
/// measurement buckets and random source. Touched only on its loop, so the request path takes no
/// lock and makes no thread hop.
final class LoopState {
    let eventLoop: any EventLoop
    private(set) var routes = LoopRoutes.empty
    var recorder = PerSecondRecorder()
    var random: SplitMix64
    private var pools: [UpstreamPool.Key: UpstreamPool] = [:]
    /// Client connections open on this loop.
    var openConnections = 0
    /// Exchanges in flight on this loop (for the drain on shutdown).
    var inFlight = 0
    /// Set on shutdown: responses carry `connection: close` and connections close after them.
    private(set) var draining = false
    /// The client HTTP/2 connections open on this loop, told to go away when draining starts.
    var http2Connections: [ObjectIdentifier: HTTP2ClientConnection] = [:]

    /// See `ConnectionLimits`; `maxConnections` is this loop's share.
    let idleTimeout: TimeAmount
    let maxConnections: Int
    let accessLog: AccessLog?
    /// The exchange rules' deadlines for an HTTP/1.1 connection and for an HTTP/2 stream.
    let exchangeSettings: ExchangeStateMachine.Settings
    let streamExchangeSettings: ExchangeStateMachine.Settings
    let trustedProxies: [CIDRBlock]
    /// Event loops of the data plane: circuit breakers are divided among them.
    let loopCount: Int
    /// Off only in the benchmark that prices measurement (`WEIR_MEASUREMENT=off`).
    let measuring: Bool
    /// Sends copies of shadowed routes' requests and compares the answers.
    let shadow: ShadowMirror

    init(
        eventLoop: any EventLoop, seed: UInt64, limits: ConnectionLimits, maxConnections: Int, loopCount: Int,
        measuring: Bool = true, shadows: ShadowBook = ShadowBook()
    ) {
        self.shadow = ShadowMirror(book: shadows)
        self.accessLog = limits.accessLog
        self.trustedProxies = limits.trustedProxies
        self.loopCount = loopCount
        self.exchangeSettings = ExchangeStateMachine.Settings(
            idleTimeout: Self.nanoseconds(limits.idleTimeout), bodyTimeout: Self.nanoseconds(limits.clientBodyTimeout),
            lingerTime: Self.nanoseconds(limits.lingerTime), lingerBytes: limits.lingerBytes, isStream: false)
        var stream = exchangeSettings
        stream.isStream = true
        self.streamExchangeSettings = stream
        self.measuring = measuring
        self.eventLoop = eventLoop
        self.idleTimeout = TimeAmount(limits.idleTimeout)
        self.maxConnections = maxConnections
        self.random = SplitMix64(seed: seed)
    }

    /// Installs a new table; `series[r][v]` are the measurement series of route r's version v;
    /// `upstreamTLS` holds the client contexts for `https://` upstreams by `RouteDefinition.upstreamTLSKey`.
    func install(_ table: RoutingTable, series: [[VersionSeries]], upstreamTLS: [UpstreamTLSKey: NIOSSLContext] = [:]) {
        guard table.generation > routes.table.generation else { return }
        var used: [UpstreamPool.Key: UpstreamPool] = [:]
        let compiled = table.routes.enumerated().map { routeIndex, route in
            LoopRoute(
                definition: route,
                split: table.splits[routeIndex],
                versions: route.versions.enumerated().map { versionIndex, version in
                    LoopVersion(
                        name: version.name,
                        series: series[routeIndex][versionIndex],
                        upstreams: version.upstreams.map { address in
                            let key = UpstreamPool.Key(
                                address: address, tls: route.upstreamTLSKey, ejection: route.ejection,
                                breakers: route.circuitBreakers)
                            let pool =
                                used[key] ?? pools[key]
                                ?? UpstreamPool(
                                    address: address, eventLoop: eventLoop, ejection: route.ejection,
                                    breakers: route.circuitBreakers.share(ofLoops: loopCount),
                                    tls: upstreamTLS[route.upstreamTLSKey])
                            used[key] = pool
                            return pool
                        }
                    )
                },
                timeout: TimeAmount(route.timeout)
            )
        }
        // An upstream no longer routed to finishes its exchanges (HTTP/2 streams too) before closing.
        for (key, pool) in pools where used[key] == nil { pool.retire() }
        pools = used
        routes = LoopRoutes(table: table, routes: compiled)
    }

    /// Records one finished exchange into this loop's current second, with the canary weight
    /// (basis points) of the split it was routed under.
    func record(_ outcome: RequestOutcome, series: SeriesID, routedAt weight: Int, at now: NIODeadline) {
        guard measuring else { return }
        recorder.record(
            outcome, series: series, second: Int64(now.uptimeNanoseconds / 1_000_000_000), weight: weight)
    }

    /// Open and idle upstream connections on this loop, by upstream.
    func connectionCounts() -> [UpstreamAddress: UpstreamConnectionCounts] {
        var counts: [UpstreamAddress: UpstreamConnectionCounts] = [:]
        for pool in pools.values {
            counts[pool.address, default: UpstreamConnectionCounts(open: 0, idle: 0)].add(
                UpstreamConnectionCounts(open: pool.openConnections, idle: pool.idleConnections))
        }
        return counts
    }

    /// Starts the drain: HTTP/1.1 responses from now on carry `connection: close`, and every HTTP/2
    /// client gets a GOAWAY so it opens no new stream here (the streams it has finish).
    func startDraining() {
        draining = true
        for connection in http2Connections.values { connection.goAway() }
    }

    func closeIdleConnections() {
        for pool in pools.values { pool.closeAll() }
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(TimeAmount(duration).nanoseconds)
    }
}

@available(*, unavailable)
extension LoopState: Sendable {}
