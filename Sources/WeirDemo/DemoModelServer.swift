import NIOCore
import NIOHTTP1
import NIOPosix

/// A small model server speaking the KServe V2 inference protocol over HTTP/1.1, plus a few test
/// endpoints (byte streams, counted uploads, a connection that dies mid-response). The quickstart
/// runs two of them behind Weir; the integration tests use them as real upstreams.
///
/// Endpoints:
/// - `GET /v2/health/ready`, `GET /v2/health/live`: 200.
/// - `POST /v2/models/NAME/infer`: a V2 response after the configured latency; fails at the
///   configured error rate with 500.
/// - `POST /v2/models/NAME/generate_stream` (or `?stream=true`): `text/event-stream`, one event
///   every `streamIntervalMillis`.
/// - `POST /v1/chat/completions`, `POST /v1/completions`: OpenAI-compatible answers, streamed
///   (`"stream": true`, SSE chunks, usage with `stream_options.include_usage`) or not, after
///   `ttftMillis` and `tpotMillis` per token, `outputTokens` long (capped by `max_tokens`), ending
///   with `length` at `lengthRate`; `?die_after=K` (or `streamCutRate`) cuts the stream before token K;
///   `?status=CODE` answers CODE with a one-event `text/event-stream` error body.
/// - `GET /bytes/N`: N bytes, streamed with backpressure. `POST /count`: the number of body bytes
///   received. `GET /die/N` (`/reset/N`): the head and N bytes of a longer body, then the connection
///   closes (resets). `generate_stream?die_after=K`: the stream dies after K events.
///   `GET /sleep/MS`: answers after MS milliseconds. `GET /status/CODE`: that status.
/// - `POST /grpc-status/CODE`: a gRPC-shaped answer over HTTP/1.1 — 200, `application/grpc`, an
///   empty chunked body and a `grpc-status: CODE` trailer (CODE `none`: no trailer at all).
public final class DemoModelServer: Sendable {
    public let behavior: DemoModelBehavior
    private let channel: any Channel

    private init(behavior: DemoModelBehavior, channel: any Channel) {
        self.behavior = behavior
        self.channel = channel
    }

    /// Starts a server on `host:port` (port 0 picks a free one).
    public static func start(
        behavior: DemoModelBehavior,
        host: String = "127.0.0.1",
        port: Int = 0,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> DemoModelServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DemoRequestHandler(behavior: behavior))
                }
            }
            .bind(host: host, port: port)
            .get()
        return DemoModelServer(behavior: behavior, channel: channel)
    }

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// `http://127.0.0.1:PORT`
    public var url: String { "http://127.0.0.1:\(port)" }

    public func stop() async {
        try? await channel.close()
    }

    /// Runs until the listener closes.
    public func wait() async throws {
        try await channel.closeFuture.get()
    }
}
