import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL
import NIOTLS

/// What the data-plane listener speaks: HTTP/1.1 always; with `tls`, HTTPS where ALPN picks h2 or
/// http/1.1; with `h2c`, also cleartext HTTP/2 with prior knowledge (told apart from HTTP/1.1 by
/// the connection preface, so one port serves both).
public struct ListenerProtocols: Sendable {
    public var tls: NIOSSLContext?
    public var h2c: Bool

    public init(tls: NIOSSLContext? = nil, h2c: Bool = false) {
        self.tls = tls
        self.h2c = h2c
    }
}

/// Sets up a client connection's pipeline for the protocol it speaks, ending in `ProxyHandler`s:
/// one for an HTTP/1.1 connection, one per stream for HTTP/2.
struct ClientPipeline {
    let protocols: ListenerProtocols
    let decoderLimits: NIOHTTPDecoderLimitConfiguration
    let maxHeaderBytes: Int

    func configure(_ channel: any Channel, loop: LoopState) throws {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ConnectionGate(loop: loop))
        if protocols.tls != nil || protocols.h2c {
            try sync.addHandler(HandshakeDeadline(timeout: loop.idleTimeout))
        }
        if let tls = protocols.tls {
            try sync.addHandler(NIOSSLServerHandler(context: tls))
            try sync.addHandler(
                ApplicationProtocolNegotiationHandler { result, channel in
                    channel.eventLoop.makeCompletedFuture {
                        let isHTTP2: Bool
                        if case .negotiated("h2") = result { isHTTP2 = true } else { isHTTP2 = false }
                        try configureProtocol(channel, loop: loop, isHTTP2: isHTTP2, secure: true)
                    }
                })
        } else if protocols.h2c {
            try sync.addHandler(
                HTTP2PrefaceSniffer { channel, isHTTP2 in
                    try configureProtocol(channel, loop: loop, isHTTP2: isHTTP2, secure: false)
                })
        } else {
            try configureProtocol(channel, loop: loop, isHTTP2: false, secure: false)
        }
    }

    /// Finishes the pipeline once the protocol is known; the handshake deadline has done its job.
    private func configureProtocol(_ channel: any Channel, loop: LoopState, isHTTP2: Bool, secure: Bool) throws {
        HandshakeDeadline.cancel(on: channel)
        if isHTTP2 {
            try configureHTTP2(channel, loop: loop, secure: secure)
        } else {
            try configureHTTP1(channel, loop: loop, secure: secure)
        }
    }

    private func configureHTTP1(_ channel: any Channel, loop: LoopState, secure: Bool) throws {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: true,
            withErrorHandling: true,
            withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: decoderLimits
        )
        try channel.pipeline.syncOperations.addHandler(ProxyHandler(loop: loop, secure: secure))
    }

    private func configureHTTP2(_ channel: any Channel, loop: LoopState, secure: Bool) throws {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 256),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maxHeaderBytes),
        ]
        // NIO's flood limits stay at their defaults (200 control frames and 200 RST_STREAMs per
        // 30 s): each stream can cost an upstream exchange, so a reset flood must end the connection
        // early (CVE-2023-44487). `HTTP2ClientConnection` adds the premature-reset check on top.
        let stream = NIOHTTP2Handler.StreamConfiguration()
        let boundLoop = NIOLoopBound(loop, eventLoop: channel.eventLoop)
        let client = NIOLoopBound(
            HTTP2ClientConnection(connection: channel, loop: loop), eventLoop: channel.eventLoop)
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: connection,
            streamConfiguration: stream
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                let head = HTTP2StreamHeadObserver()
                try streamChannel.pipeline.syncOperations.addHandler(head)
                try streamChannel.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try streamChannel.pipeline.syncOperations.addHandler(
                    ProxyHandler(loop: boundLoop.value, stream: client.value, streamHead: head, secure: secure))
            }
        }
    }
}
