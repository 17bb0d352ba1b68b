import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client for Weir's own control-plane calls (webhooks, `weirctl`): one request
/// on a fresh connection, the whole (small) response read into memory. Not for the data plane.
public enum OneShotHTTPClient {
    /// What came back.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
    }

    /// Where a request went wrong before any answer.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// A parsed `http://host[:port][/path]` URL.
    public struct Target: Sendable {
        public var host: String
        public var port: Int
        public var path: String

        public init(url: String) throws(Failure) {
            guard url.hasPrefix("http://") else {
                throw Failure(message: "only http:// URLs are supported, not \(url)")
            }
            let rest = url.dropFirst("http://".count)
            let authority = rest.prefix { $0 != "/" }
            let path = rest.dropFirst(authority.count)
            self.path = path.isEmpty ? "/" : String(path)
            if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
                guard let port = Int(authority[authority.index(after: colon)...]) else {
                    throw Failure(message: "bad port in \(url)")
                }
                host = String(authority[..<colon])
                self.port = port
            } else {
                host = String(authority)
                port = 80
            }
            host = host.trimmingBrackets()
            guard !host.isEmpty else { throw Failure(message: "no host in \(url)") }
        }
    }

    /// Sends `method` (`GET`, `POST`, …) to `url` and reads the whole answer.
    public static func send(
        method: String,
        url: String,
        headers extra: [(String, String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(10)
    ) async throws -> Response {
        let target = try Target(url: url)
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(host: target.host, port: target.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Failure(message: Self.describe(error))
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            try? await channel.channel.close()
        }
        defer { timer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders([
                ("host", "\(target.host):\(target.port)"), ("connection", "close"), ("user-agent", "weir"),
            ])
            headers.add(contentsOf: extra)
            if let body { headers.add(name: "content-length", value: String(body.count)) }
            try await outbound.write(
                .head(
                    HTTPRequestHead(
                        version: .http1_1, method: HTTPMethod(rawValue: method), uri: target.path, headers: headers)))
            if let body, !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            var response = Response(status: 0, headers: [], body: [])
            for try await part in inbound {
                switch part {
                case .head(let head):
                    response.status = Int(head.status.code)
                    response.headers = head.headers.map { ($0.name, $0.value) }
                case .body(let buffer):
                    response.body.append(contentsOf: buffer.readableBytesView)
                case .end:
                    return response
                }
            }
            throw Failure(message: "the connection closed before the answer was complete")
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("connectTimeout") { return "connection timed out" }
        return text
    }
}

extension String {
    fileprivate func trimmingBrackets() -> String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
