import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import WeirCore

@testable import WeirProxy

/// `ProxyHandler` on an `EmbeddedChannel`: the answers Weir gives itself, without sockets.
@Suite struct ProxyHandlerTests {
    static func channel() throws -> (EmbeddedChannel, LoopState) {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        let loop = LoopState(
            eventLoop: channel.eventLoop, seed: 1, limits: ConnectionLimits(), maxConnections: 10, loopCount: 1)
        try channel.pipeline.syncOperations.addHandler(ProxyHandler(loop: loop))
        return (channel, loop)
    }

    static func send(_ channel: EmbeddedChannel, _ head: HTTPRequestHead, body: String? = nil) throws {
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        if let body { try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: body))) }
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    static func response(_ channel: EmbeddedChannel) throws -> (head: HTTPResponseHead, body: String) {
        guard case .head(let head) = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
            throw ExpectedHead()
        }
        var body = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            if case .body(.byteBuffer(let buffer)) = part { body += String(buffer: buffer) }
            if case .end = part { break }
        }
        return (head, body)
    }

    struct ExpectedHead: Error {}

    @Test func traceIsAnswered405AndTheConnectionStays() throws {
        let (channel, _) = try Self.channel()
        try Self.send(
            channel,
            HTTPRequestHead(version: .http1_1, method: .TRACE, uri: "/", headers: ["host": "x", "content-length": "3"]),
            body: "abc")
        let response = try Self.response(channel)
        #expect(response.head.status == .methodNotAllowed)
        #expect(response.body.contains("method_not_allowed"))
        #expect(channel.isActive)
    }

    @Test func aDuplicateHostIsAnswered400AndTheConnectionCloses() throws {
        let (channel, _) = try Self.channel()
        try channel.writeInbound(
            HTTPServerRequestPart.head(
                HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders([("host", "a"), ("host", "b")]))))
        let response = try Self.response(channel)
        #expect(response.head.status == .badRequest)
        #expect(response.head.headers["connection"] == ["close"])
        #expect(!channel.isActive)
    }

    @Test func noRouteIs404AndTheRestOfTheBodyIsDropped() throws {
        let (channel, loop) = try Self.channel()
        try Self.send(
            channel,
            HTTPRequestHead(version: .http1_1, method: .POST, uri: "/none", headers: ["host": "x", "content-length": "2"]),
            body: "hi")
        let response = try Self.response(channel)
        #expect(response.head.status == .notFound)
        #expect(channel.isActive)
        #expect(loop.inFlight == 0)
        // The connection serves the next request.
        try Self.send(channel, HTTPRequestHead(version: .http1_1, method: .GET, uri: "/none", headers: ["host": "x"]))
        #expect(try Self.response(channel).head.status == .notFound)
    }
}
