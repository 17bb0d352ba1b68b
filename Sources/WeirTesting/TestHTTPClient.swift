import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP/1.1 client for tests: one keep-alive connection, requests one after another, each
/// response read part by part with the time every body part arrived.
public final class TestHTTPClient {
    /// A response as the client saw it.
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
        /// Arrival time of each body part, from when the request was sent.
        public var partArrivals: [Duration]
        /// False when the connection ended before the response did.
        public var complete: Bool

        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? { headers.first(name: name) }
    }

    private let inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    private var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let host: String

    private init(
        inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        host: String
    ) {
        self.inbound = inbound
        self.iterator = inbound
        self.outbound = outbound
        self.host = host
    }

    /// Opens a connection to `127.0.0.1:port`, runs `body` with a client on it, then closes it.
    public static func withConnection<T>(
        port: Int,
        host: String = "127.0.0.1",
        _ body: (TestHTTPClient) async throws -> T
    ) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let client = TestHTTPClient(
                inbound: inbound.makeAsyncIterator(), outbound: outbound, host: "\(host):\(port)")
            return try await body(client)
        }
    }

    /// One request on a fresh connection.
    public static func request(
        port: Int,
        method: HTTPMethod = .GET,
        path: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> Response {
        try await withConnection(port: port) {
            try await $0.request(method: method, path: path, headers: headers, body: body)
        }
    }

    /// Sends a request and reads its whole response.
    public func request(
        method: HTTPMethod = .GET,
        path: String,
        headers extraHeaders: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> Response {
        // A test that names its own Host sends that one alone.
        var headers = HTTPHeaders(extraHeaders.contains { $0.0.lowercased() == "host" } ? [] : [("host", host)])
        headers.add(contentsOf: extraHeaders)
        if let body { headers.replaceOrAdd(name: "content-length", value: String(body.count)) }
        let sentAt = ContinuousClock.now
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)))
        if let body, !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await outbound.write(.end(nil))

        var response = Response(status: 0, headers: [:], body: [], partArrivals: [], complete: false)
        do {
            while let part = try await iterator.next() {
                switch part {
                case .head(let head):
                    response.status = Int(head.status.code)
                    response.headers = head.headers
                case .body(let buffer):
                    response.body.append(contentsOf: buffer.readableBytesView)
                    response.partArrivals.append(ContinuousClock.now - sentAt)
                case .end:
                    response.complete = true
                    return response
                }
            }
        } catch {
            // A cut connection: report what arrived.
        }
        return response
    }
}
