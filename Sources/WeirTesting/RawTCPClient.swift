import NIOCore
import NIOPosix

/// Sends raw bytes over TCP and reads until the peer closes or a time limit passes: for malformed
/// requests that no HTTP client library would produce.
public enum RawTCPClient {
    /// What came back, and whether the peer closed the connection within the limit.
    public struct Reply: Sendable {
        public var bytes: [UInt8]
        public var closedByPeer: Bool
        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    public static func exchange(port: Int, send: [UInt8], readFor limit: Duration = .seconds(3)) async throws -> Reply {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let started = ContinuousClock.now
        let timer = Task {
            try await Task.sleep(for: limit)
            try? await channel.channel.close()
        }
        defer { timer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            // A peer that closes at once (a refused connection) may close before the write: that is
            // an answer too, read below as a closed connection.
            try? await outbound.write(ByteBuffer(bytes: send))
            var bytes: [UInt8] = []
            do {
                for try await buffer in inbound { bytes.append(contentsOf: buffer.readableBytesView) }
            } catch {
                // A reset ends the reply too.
            }
            return Reply(bytes: bytes, closedByPeer: ContinuousClock.now - started < limit)
        }
    }
}

/// Waits until something accepts TCP connections on `127.0.0.1:port` (a child process starting up).
public func waitUntilListening(port: Int, limit: Duration = .seconds(10)) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if (try? await RawTCPClient.exchange(port: port, send: [], readFor: .milliseconds(1))) != nil { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    throw RawTCPClient.NotListening(port: port)
}

extension RawTCPClient {
    /// Nothing listened on the port in time.
    public struct NotListening: Error, CustomStringConvertible {
        public var port: Int
        public var description: String { "nothing listens on 127.0.0.1:\(port)" }
    }
}
