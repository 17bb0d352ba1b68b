import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP/1.1 upstream on 127.0.0.1 that logs every request it parses — method, target,
/// headers and body — and answers each with `id=<x-test-id> body=<bytes>`, so a test can tell
/// whether the upstream ever parsed a request the client did not send (smuggling) and whether
/// every answer reached the client that asked. Keep-alive, pipelining tolerated. Optionally
/// answers slowly (`delay`), to hold connections busy.
public final class RequestLogServer: Sendable {
    /// One request as the upstream parsed it.
    public struct Entry: Sendable {
        public var method: String
        public var uri: String
        public var headers: [(String, String)]
        public var body: [UInt8]
        public var connection: Int
        /// Trailer fields after a chunked body.
        public var trailers: [(String, String)] = []

        public func header(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name }.map(\.1)
        }
    }

    private let channel: any Channel
    private let state: State

    /// The log and connection counts, shared with the connections' handlers.
    final class State: Sendable {
        let log = Mutex<[Entry]>([])
        let connections = Mutex<(opened: Int, open: Int)>((0, 0))
    }

    public static func start(delay: Duration = .zero) async throws -> RequestLogServer {
        let state = State()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let number = state.connections.withLock { state in
                    state.opened += 1
                    state.open += 1
                    return state.opened
                }
                channel.closeFuture.whenComplete { _ in state.connections.withLock { $0.open -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        LogHandler(state: state, connection: number, delay: delay))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RequestLogServer(channel: channel, state: state)
    }

    private init(channel: any Channel, state: State) {
        self.channel = channel
        self.state = state
    }

    public var port: Int { channel.localAddress?.port ?? 0 }
    public var url: String { "http://127.0.0.1:\(port)" }
    public var entries: [Entry] { state.log.withLock { $0 } }
    /// Connections accepted so far, and open now.
    public var connectionsOpened: Int { state.connections.withLock { $0.opened } }
    public var connectionsOpen: Int { state.connections.withLock { $0.open } }

    public func stop() async { try? await channel.close() }

    private final class LogHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let state: State
        let connection: Int
        let delay: Duration
        var entry: Entry?

        init(state: State, connection: Int, delay: Duration) {
            self.state = state
            self.connection = connection
            self.delay = delay
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                entry = Entry(
                    method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) },
                    body: [], connection: connection)
            case .body(let buffer):
                entry?.body += buffer.readableBytesView
            case .end(let trailers):
                guard var entry else { return }
                entry.trailers = trailers.map { $0.map { ($0.name, $0.value) } } ?? []
                self.entry = nil
                state.log.withLock { $0.append(entry) }
                let text = "id=\(entry.header("x-test-id").first ?? "-") body=\(entry.body.count)\n"
                let respond = { [self] in
                    let headers = HTTPHeaders([("content-length", String(text.utf8.count))])
                    context.write(
                        wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                        promise: nil)
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
                if delay == .zero {
                    respond()
                } else {
                    let nanos = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
                    context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanos)) { respond() }
                }
            }
        }
    }
}
