import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A real HTTP server on 127.0.0.1 that records every request body and answers 500 to the first
/// `failFirst` requests, then 200: a webhook receiver for tests. With `tls` it speaks HTTPS with
/// that certificate (as Slack, PagerDuty and Opsgenie endpoints do).
public final class RecordingHTTPServer: Sendable {
    private let channel: any Channel
    private let box: StateBox

    public static func start(
        failFirst: Int = 0, tls: (certificate: String, key: String)? = nil
    ) async throws -> RecordingHTTPServer {
        let box = StateBox(failFirst: failFirst)
        let context = try tls.map { tls in
            try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.key, format: .pem))))
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RecordingHTTPServer(channel: channel, box: box, secure: tls != nil)
    }

    private let secure: Bool

    private init(channel: any Channel, box: StateBox, secure: Bool) {
        self.channel = channel
        self.box = box
        self.secure = secure
    }

    public var url: String {
        secure
            ? "https://localhost:\(channel.localAddress?.port ?? 0)/hook"
            : "http://127.0.0.1:\(channel.localAddress?.port ?? 0)/hook"
    }

    /// Bodies of the requests answered with 200.
    public var received: [String] { box.state.withLock { $0.bodies } }

    public func stop() async { try? await channel.close() }

    final class StateBox: Sendable {
        let state: Mutex<(bodies: [String], remainingFailures: Int)>
        init(failFirst: Int) { state = Mutex(([], failFirst)) }
    }

    final class RecordingHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let box: StateBox
        var body = ""

        init(box: StateBox) { self.box = box }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: body = ""
            case .body(let buffer): body += String(buffer: buffer)
            case .end:
                let received = body
                let fail = box.state.withLock { state in
                    if state.remainingFailures > 0 {
                        state.remainingFailures -= 1
                        return true
                    }
                    state.bodies.append(received)
                    return false
                }
                let headers = HTTPHeaders([("content-length", "0")])
                context.write(
                    wrapOutboundOut(
                        .head(
                            HTTPResponseHead(
                                version: .http1_1, status: fail ? .internalServerError : .ok, headers: headers))),
                    promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
