import NIOCore
import NIOHTTP1
import NIOPosix
import WeirCore

/// Keep-alive connections to one upstream, owned by one event loop: a request on that loop takes an
/// idle connection without a lock or a thread hop, or opens a new one on the same loop.
final class UpstreamPool {
    let address: UpstreamAddress
    let eventLoop: any EventLoop
    private let socketAddress: SocketAddress?
    private var idle: [UpstreamHandler] = []
    private let maxIdle: Int
    private let connectTimeout: TimeAmount
    /// Passive health: failures in a row eject this upstream for this loop.
    var health = OutlierDetector()

    init(
        address: UpstreamAddress, eventLoop: any EventLoop,
        ejection: OutlierDetector.Settings = OutlierDetector.Settings(),
        maxIdle: Int = 256, connectTimeout: TimeAmount = .seconds(5)
    ) {
        self.health = OutlierDetector(settings: ejection)
        self.address = address
        self.eventLoop = eventLoop
        self.maxIdle = maxIdle
        self.connectTimeout = connectTimeout
        // An IP literal needs no resolver: build its socket address once.
        self.socketAddress = try? SocketAddress(ipAddress: address.host, port: address.port)
    }

    /// An idle connection if one is alive, else nil (the caller then calls `connect`).
    func takeIdle() -> UpstreamHandler? {
        while let handler = idle.popLast() {
            if handler.isActive { return handler }
        }
        return nil
    }

    /// Opens a new connection on this pool's loop; `completion` runs on that loop.
    func connect(timeout: TimeAmount, completion: @escaping (Result<UpstreamHandler, any Error>) -> Void) {
        let handler = UpstreamHandler(pool: self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(min(timeout, connectTimeout))
            .channelInitializer { [handler = NIOLoopBound(handler, eventLoop: eventLoop)] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
        let connected: EventLoopFuture<any Channel>
        if let socketAddress {
            connected = bootstrap.connect(to: socketAddress)
        } else {
            connected = bootstrap.connect(host: address.host, port: address.port)
        }
        connected.assumeIsolated().whenComplete { result in
            completion(result.map { _ in handler })
        }
    }

    func release(_ handler: UpstreamHandler) {
        if idle.count < maxIdle {
            idle.append(handler)
        } else {
            handler.close()
        }
    }

    func remove(_ handler: UpstreamHandler) {
        if let index = idle.firstIndex(where: { $0 === handler }) { idle.remove(at: index) }
    }

    func closeAll() {
        let handlers = idle
        idle.removeAll()
        for handler in handlers { handler.close() }
    }
}

@available(*, unavailable)
extension UpstreamPool: Sendable {}
