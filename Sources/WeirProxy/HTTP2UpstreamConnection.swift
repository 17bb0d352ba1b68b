import NIOCore
import NIOHTTP1
import NIOHTTP2

/// One multiplexed HTTP/2 connection to an upstream (`h2c://`, or `https://` where ALPN chose h2).
/// Every exchange opens a stream of its own on it; the upstream's SETTINGS bound how many run at
/// once (NIO buffers the rest). It stops taking new streams once the upstream sends GOAWAY.
final class HTTP2UpstreamConnection {
    let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let secure: Bool
    fileprivate(set) var goingAway = false

    /// Puts HTTP/2 on `channel` (on its loop); the connection is usable at once.
    init(channel: any Channel, secure: Bool) throws {
        self.channel = channel
        self.secure = secure
        var settings = NIOHTTP2Handler.ConnectionConfiguration()
        settings.initialSettings = [
            HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 256 * 1024),
        ]
        self.multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client,
            connectionConfiguration: settings,
            streamConfiguration: NIOHTTP2Handler.StreamConfiguration(),
            inboundStreamInitializer: { stream in stream.close() }
        )
        try channel.pipeline.syncOperations.addHandler(GoAwayWatcher(connection: self))
    }

    var isUsable: Bool { channel.isActive && !goingAway }

    /// Opens a stream whose pipeline ends in a fresh `UpstreamHandler`; `completion` runs on the loop.
    func openStream(pool: UpstreamPool, completion: @escaping (Result<UpstreamHandler, any Error>) -> Void) {
        let handler = UpstreamHandler(pool: pool, isStream: true)
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: (any Channel).self)
        let httpProtocol: HTTP2FramePayloadToHTTP1ClientCodec.HTTPProtocol = secure ? .https : .http
        multiplexer.createStreamChannel(promise: promise) { [handler = NIOLoopBound(handler, eventLoop: loop)] stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(
                    HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: httpProtocol))
                try stream.pipeline.syncOperations.addHandler(handler.value)
            }
        }
        promise.futureResult.assumeIsolated().whenComplete { result in
            completion(result.map { _ in handler })
        }
    }

    func close() {
        channel.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTP2UpstreamConnection: Sendable {}

/// Marks its connection as going away when the upstream sends GOAWAY, so new exchanges open a new one.
private final class GoAwayWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    private weak var connection: HTTP2UpstreamConnection?

    init(connection: HTTP2UpstreamConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { connection?.goingAway = true }
    }
}

@available(*, unavailable)
extension GoAwayWatcher: Sendable {}
