import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import WeirCore

/// The data plane: a listener (HTTP/1.1, and HTTP/2 over TLS or h2c as `ListenerProtocols` say) whose
/// connections are served by `ProxyHandler`s, with one
/// `LoopState` per event loop. Routing tables are published to every loop; measurements are
/// drained from every loop by `collect()`.
public final class ProxyServer: Sendable {
    private let group: any EventLoopGroup
    private let loops: [NIOLoopBound<LoopState>]
    public let measurements: Measurements
    private let limits: ConnectionLimits
    private let serverChannel = Mutex<(any Channel)?>(nil)
    private let published = Mutex<UInt64>(0)
    /// Client TLS contexts for `https://` upstreams, by CA file ("" = the system's roots).
    private let upstreamTLS = Mutex<[UpstreamTLSKey: NIOSSLContext]>([:])

    /// Creates the per-loop state on every loop of `group`. `seed` fixes the weighted draws (tests);
    /// nil seeds from the system's random source. `measuring: false` skips recording outcomes — it
    /// exists only so the benchmark can price measurement; nothing can judge a rollout without it.
    public init(
        group: any EventLoopGroup, measurements: Measurements, limits: ConnectionLimits = ConnectionLimits(),
        seed: UInt64? = nil, measuring: Bool = true
    ) async throws {
        self.group = group
        self.measurements = measurements
        self.limits = limits
        let loopCount = Array(group.makeIterator()).count
        let perLoop = max(1, limits.maxConnections / max(1, loopCount))
        var loops: [NIOLoopBound<LoopState>] = []
        for (index, loop) in group.makeIterator().enumerated() {
            let loopSeed = seed.map { $0 &+ UInt64(index) &* 0x9e37_79b9 } ?? UInt64.random(in: .min ... .max)
            loops.append(
                try await loop.submit {
                    NIOLoopBound(
                        LoopState(
                            eventLoop: loop, seed: loopSeed, limits: limits, maxConnections: perLoop,
                            loopCount: loopCount, measuring: measuring, shadows: measurements.shadows),
                        eventLoop: loop)
                }
                .get())
        }
        self.loops = loops
    }

    /// Starts listening; returns the bound address (port 0 picks a free port).
    public func start(host: String, port: Int, protocols: ListenerProtocols = ListenerProtocols()) async throws
        -> SocketAddress
    {
        let loops = self.loops
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = limits.maxHeaderCount
        let pipeline = ClientPipeline(
            protocols: protocols, decoderLimits: decoderLimits, maxHeaderBytes: limits.maxHeaderBytes)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let state = loops.first(where: { $0.eventLoop === channel.eventLoop }) else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    try pipeline.configure(channel, loop: state.value)
                }
            }
            .bind(host: host, port: port)
            .get()
        serverChannel.withLock { $0 = channel }
        guard let address = channel.localAddress else { throw ChannelError.unknownLocalAddress }
        return address
    }

    /// Makes `table` the routing state of every loop. Tables older than the newest published one
    /// are ignored, so concurrent publishers cannot roll weights back.
    public func publish(_ table: RoutingTable) async {
        let series = table.routes.map { route in
            route.versions.map { version in
                VersionSeries(
                    weighted: measurements.seriesID(for: SeriesKey(route: route.name, version: version.name)),
                    pinned: measurements.seriesID(for: SeriesKey(route: route.name, version: version.name, pinned: true)))
            }
        }
        let isNewest = published.withLock { newest in
            guard table.generation > newest else { return false }
            newest = table.generation
            return true
        }
        guard isNewest else { return }
        try? prepareUpstreamTLS(for: table.routes)
        let tls = upstreamTLS.withLock { $0 }
        await withTaskGroup(of: Void.self) { tasks in
            for loop in loops {
                tasks.addTask {
                    try? await loop.eventLoop.submit { loop.value.install(table, series: series, upstreamTLS: tls) }
                        .get()
                }
            }
        }
    }

    /// Loads the client TLS contexts the routes' `https://` upstreams need (once per CA file).
    /// Throws when a CA file cannot be read, so a config naming one is refused before it is used.
    public func prepareUpstreamTLS(for routes: [RouteDefinition]) throws {
        for route in routes
        where route.versions.contains(where: { $0.upstreams.contains { $0.scheme == .https } }) {
            let key = route.upstreamTLSKey
            if upstreamTLS.withLock({ $0[key] }) != nil { continue }
            let context = try TLSContexts.upstreamClient(caFile: route.upstreamCAFile, policy: route.upstreamTLS)
            upstreamTLS.withLock { $0[key] = context }
        }
    }

    /// Moves every finished second of measurements from the loops into `measurements`.
    public func collect() async {
        let nowSecond = Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        for loop in loops {
            let buckets = try? await loop.eventLoop.submit { loop.value.recorder.drain(before: nowSecond) }.get()
            if let buckets, !buckets.isEmpty { measurements.add(buckets) }
        }
    }

    /// Upstream connections over all loops, by upstream (the pool gauges of `/metrics`).
    public func upstreamConnections() async -> [UpstreamAddress: UpstreamConnectionCounts] {
        var total: [UpstreamAddress: UpstreamConnectionCounts] = [:]
        for loop in loops {
            let counts = (try? await loop.eventLoop.submit { loop.value.connectionCounts() }.get()) ?? [:]
            for (address, count) in counts {
                total[address, default: UpstreamConnectionCounts(open: 0, idle: 0)].add(count)
            }
        }
        return total
    }

    /// Requests being proxied right now, over all loops.
    public func inFlightRequests() async -> Int {
        var total = 0
        for loop in loops {
            total += (try? await loop.eventLoop.submit { loop.value.inFlight }.get()) ?? 0
        }
        return total
    }

    /// Stops accepting connections, waits up to `drainTimeout` for in-flight requests, then closes
    /// the pooled upstream connections.
    public func shutdown(drainTimeout: Duration) async {
        let channel = serverChannel.withLock { channel in
            defer { channel = nil }
            return channel
        }
        try? await channel?.close()
        for loop in loops {
            try? await loop.eventLoop.submit { loop.value.startDraining() }.get()
        }
        let deadline = ContinuousClock.now + drainTimeout
        while await inFlightRequests() > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for loop in loops {
            try? await loop.eventLoop.submit { loop.value.closeIdleConnections() }.get()
        }
    }
}
