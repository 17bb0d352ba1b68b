#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import NIOCore
import NIOHTTP1

/// Serves one connection of a `DemoModelServer`.
final class DemoRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let behavior: DemoModelBehavior
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    /// The request body, kept (up to 1 MiB) for the OpenAI endpoints, which read it.
    private var body: ByteBuffer?
    private var keepAlive = true
    /// Bytes still to send of a `/bytes/N` response, written as the client drains them.
    private var remainingBytes = 0
    private var chunk: ByteBuffer?
    private var random = SystemRandomNumberGenerator()

    init(behavior: DemoModelBehavior) {
        self.behavior = behavior
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
            body =
                head.uri.hasPrefix("/v1/") || behavior.seededOutputs ? context.channel.allocator.buffer(capacity: 0) : nil
            keepAlive = head.isKeepAlive
        case .body(var part):
            bodyBytes += part.readableBytes
            if body != nil, bodyBytes <= 1 << 20 { body!.writeBuffer(&part) }
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pumpBytes(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let parts = path.split(separator: "/")
        switch (head.method, parts.first) {
        case (.GET, "v2") where parts.count >= 2 && parts[1] == "health":
            send(status: .ok, json: "{\"ready\":true}", context: context)
        case (.POST, "v2")
        where path.hasSuffix("/generate_stream") || (path.hasSuffix("/infer") && query.contains("stream=true")):
            stream(model: Self.modelName(parts), dieAfter: Self.queryInt(query, "die_after"), context: context)
        case (.POST, "v2") where path.hasSuffix("/infer"):
            infer(model: Self.modelName(parts), context: context)
        case (.GET, "v2") where parts.count == 3 && parts[1] == "models":
            send(
                status: .ok,
                json: "{\"name\":\"\(parts[2])\",\"versions\":[\"\(behavior.version)\"],\"platform\":\"weir-demo\"}",
                context: context)
        case (.POST, "v1") where path == "/v1/chat/completions" || path == "/v1/completions":
            var request = body ?? ByteBuffer()
            let json = request.readBytes(length: request.readableBytes).flatMap {
                try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]
            }
            guard let json else {
                send(status: .badRequest, json: "{\"error\":{\"message\":\"expected a JSON object\"}}", context: context)
                return
            }
            if let code = Self.queryInt(query, "status") {
                // A refusal or failure sent as a one-event stream, as some servers do.
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: "text/event-stream")
                context.write(
                    wrapOutboundOut(
                        .head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))),
                    promise: nil)
                writeEvent("{\"error\":{\"message\":\"demo status \(code)\",\"code\":\(code)}}", context: context)
                finish(context: context)
                return
            }
            if behavior.errorRate > 0 && Double.random(in: 0..<1, using: &random) < behavior.errorRate {
                send(status: .internalServerError, json: "{\"error\":{\"message\":\"injected failure\"}}", context: context)
                return
            }
            var generation = DemoGeneration(
                request: json, chat: path == "/v1/chat/completions", behavior: behavior, random: &random)
            generation.cutAfter = Self.queryInt(query, "die_after") ?? generation.cutAfter
            generate(generation, context: context)
        case (.GET, "bytes") where parts.count == 2:
            startBytes(Int(parts[1]) ?? 0, context: context)
        case (_, "count"):
            send(status: .ok, json: "{\"bytes\":\(bodyBytes)}", context: context)
        case (.GET, "die") where parts.count == 2:
            die(after: Int(parts[1]) ?? 0, reset: false, context: context)
        case (.GET, "reset") where parts.count == 2:
            die(after: Int(parts[1]) ?? 0, reset: true, context: context)
        case (.GET, "sleep") where parts.count == 2:
            let millis = Int64(parts[1]) ?? 0
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(millis)) { [self] in
                send(status: .ok, json: "{\"slept_ms\":\(millis)}", context: context)
            }
        case (.GET, "status") where parts.count == 2:
            let code = Int(parts[1]) ?? 500
            send(status: HTTPResponseStatus(statusCode: code), json: "{\"status\":\(code)}", context: context)
        case (.POST, "grpc-status") where parts.count == 2:
            sendGRPCStatus(Int(parts[1]), context: context)
        case (.GET, "headers"):
            let pairs = head.headers.map { "\(Self.quote($0.name.lowercased())):\(Self.quote($0.value))" }
            send(status: .ok, json: "{" + pairs.joined(separator: ",") + "}", context: context)
        default:
            send(status: .notFound, json: "{\"error\":\"not found: \(head.method) \(path)\"}", context: context)
        }
    }

    private static func queryInt(_ query: String, _ name: String) -> Int? {
        for pair in query.split(separator: "&") where pair.hasPrefix(name + "=") {
            return Int(pair.dropFirst(name.count + 1))
        }
        return nil
    }

    private static func modelName(_ parts: [Substring]) -> String {
        parts.count >= 3 ? String(parts[2]) : "model"
    }

    private func infer(model: String, context: ChannelHandlerContext) {
        let fails = behavior.errorRate > 0 && Double.random(in: 0..<1, using: &random) < behavior.errorRate
        let delay =
            behavior.latencyMillis
            + (behavior.jitterMillis > 0 ? Int.random(in: 0...behavior.jitterMillis, using: &random) : 0)
        let respond = { [self] in
            if fails {
                send(
                    status: .internalServerError,
                    json: "{\"error\":\"model \(model) \(behavior.version) failed (injected)\"}", context: context)
            } else if behavior.seededOutputs {
                send(status: .ok, json: seededAnswer(model: model), context: context)
            } else {
                let score = Double.random(in: 0..<1, using: &random)
                send(
                    status: .ok,
                    json:
                        "{\"model_name\":\"\(model)\",\"model_version\":\"\(behavior.version)\",\"outputs\":[{\"name\":\"score\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[\(String(score.description.prefix(6)))]}]}",
                    context: context
                )
            }
        }
        if delay > 0 {
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delay))) { respond() }
        } else {
            respond()
        }
    }

    static let classes = ["cat", "dog", "owl", "fox", "elk", "bat", "ant", "eel"]

    /// The seeded answer for the request body: class and score from its hash (see `DemoModelBehavior`).
    private func seededAnswer(model: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        if let body { for byte in body.readableBytesView { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 } }
        func uniform(_ salt: UInt64) -> Double {
            var z = hash &+ salt &* 0x9e37_79b9_7f4a_7c15
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        var label = Int(uniform(1) * Double(Self.classes.count))
        if uniform(2) < behavior.flipRate { label = (label + 1) % Self.classes.count }
        if behavior.labelNoise > 0 && Double.random(in: 0..<1, using: &random) < behavior.labelNoise {
            label = Int.random(in: 0..<Self.classes.count, using: &random)
        }
        // Irwin–Hall: the sum of 12 uniforms minus 6 is close to a standard normal.
        let score = (3...14).reduce(-6.0) { $0 + uniform(UInt64($1)) } + behavior.scoreShift
        return
            "{\"model_name\":\"\(model)\",\"model_version\":\"\(behavior.version)\",\"id\":\"\(UInt32.random(in: 0...UInt32.max, using: &random))\",\"outputs\":[{\"name\":\"label\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\(Self.classes[label])\"]},{\"name\":\"score\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[\(score)]}]}"
    }

    private func stream(model: String, dieAfter: Int?, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        headers.add(name: "x-demo-version", value: behavior.version)
        context.writeAndFlush(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        sendEvent(index: 0, model: model, dieAfter: dieAfter, context: context)
    }

    private func sendEvent(index: Int, model: String, dieAfter: Int?, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        if let dieAfter, index >= dieAfter {
            // The model server dies mid-stream.
            context.close(promise: nil)
            return
        }
        let event =
            "data: {\"model_name\":\"\(model)\",\"model_version\":\"\(behavior.version)\",\"index\":\(index),\"text_output\":\"tok\(index) \"}\n\n"
        context.writeAndFlush(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: event)))), promise: nil)
        if index + 1 >= behavior.streamChunks {
            finish(context: context)
            return
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(behavior.streamIntervalMillis))) {
            [self] in
            sendEvent(index: index + 1, model: model, dieAfter: dieAfter, context: context)
        }
    }

    /// An OpenAI-style answer: streamed as SSE chunks (role, one token per chunk at the configured
    /// pace, finish, usage when asked, `[DONE]`) or, unstreamed, one JSON completion after the
    /// whole generation time.
    private func generate(_ generation: DemoGeneration, context: ChannelHandlerContext) {
        let loop = context.eventLoop.assumeIsolated()
        guard generation.stream else {
            let millis = behavior.ttftMillis + behavior.tpotMillis * max(generation.tokens - 1, 0)
            loop.scheduleTask(in: .milliseconds(Int64(millis))) { [self] in
                send(status: .ok, json: generation.completion(), context: context)
            }
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        headers.add(name: "x-demo-version", value: behavior.version)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        if generation.chat { writeEvent(generation.chunk(role: true), context: context) }
        context.flush()
        loop.scheduleTask(in: .milliseconds(Int64(behavior.ttftMillis))) { [self] in
            sendToken(0, of: generation, context: context)
        }
    }

    private func sendToken(_ index: Int, of generation: DemoGeneration, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        if let cut = generation.cutAfter, index >= cut {
            context.close(promise: nil)
            return
        }
        writeEvent(generation.chunk(token: index), context: context)
        guard index + 1 >= generation.tokens else {
            context.flush()
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(behavior.tpotMillis))) { [self] in
                sendToken(index + 1, of: generation, context: context)
            }
            return
        }
        writeEvent(generation.chunk(finish: true), context: context)
        if generation.includeUsage { writeEvent(generation.usageChunk(), context: context) }
        writeEvent("[DONE]", context: context)
        finish(context: context)
    }

    private func writeEvent(_ data: String, context: ChannelHandlerContext) {
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "data: \(data)\n\n")))),
            promise: nil)
    }

    private func startBytes(_ count: Int, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(count))
        headers.add(name: "content-type", value: "application/octet-stream")
        headers.add(name: "x-demo-version", value: behavior.version)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        remainingBytes = count
        if chunk == nil { chunk = context.channel.allocator.buffer(repeating: UInt8(ascii: "w"), count: 64 * 1024) }
        pumpBytes(context: context)
    }

    private func pumpBytes(context: ChannelHandlerContext) {
        guard remainingBytes > 0, let chunk else { return }
        while remainingBytes > 0 && context.channel.isWritable {
            let size = min(remainingBytes, chunk.readableBytes)
            remainingBytes -= size
            context.write(
                wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: chunk.readerIndex, length: size)!))), promise: nil)
        }
        context.flush()
        if remainingBytes == 0 { finish(context: context) }
    }

    /// Sends the head and `count` bytes of a longer body, then closes — with a TCP reset when `reset`.
    private func die(after count: Int, reset: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(count * 10 + 1000))
        headers.add(name: "x-demo-version", value: behavior.version)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        let body = context.channel.allocator.buffer(repeating: UInt8(ascii: "d"), count: count)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) {
            if reset {
                // SO_LINGER with a zero timeout turns close into a reset.
                _ = (context.channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
            }
            context.close(promise: nil)
        }
    }

    private func send(status: HTTPResponseStatus, json: String, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let body = context.channel.allocator.buffer(string: json)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.readableBytes))
        headers.add(name: "x-demo-version", value: behavior.version)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        finish(context: context)
    }

    private func sendGRPCStatus(_ code: Int?, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/grpc")
        headers.add(name: "transfer-encoding", value: "chunked")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        var trailers: HTTPHeaders?
        if let code { trailers = ["grpc-status": String(code), "grpc-message": "demo status \(code)"] }
        let keepAlive = self.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    private func finish(context: ChannelHandlerContext) {
        let keepAlive = self.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    private static func quote(_ text: String) -> String {
        var out = "\""
        for character in text {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }
}

@available(*, unavailable)
extension DemoRequestHandler: Sendable {}
