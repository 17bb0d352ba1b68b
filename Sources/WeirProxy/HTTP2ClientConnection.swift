import NIOCore
import NIOHTTP2

/// Keeps a client's HTTP/2 connection in step with the data plane: closes it when it has had no
/// open stream for the idle timeout (the HTTP/2 counterpart of `ProxyHandler`'s keep-alive idle
/// timer), and sends it a GOAWAY when the drain starts. Each stream's `ProxyHandler` reports when
/// it opens and closes; everything happens on the connection's loop.
final class HTTP2ClientConnection {
    private let connection: any Channel
    private let loop: LoopState
    private var openStreams = 0
    private var task: Scheduled<Void>?

    init(connection: any Channel, loop: LoopState) {
        self.connection = connection
        self.loop = loop
        let key = ObjectIdentifier(self)
        loop.http2Connections[key] = self
        arm()
        connection.closeFuture.assumeIsolated().whenComplete { [self] _ in
            task?.cancel()
            task = nil
            loop.http2Connections[key] = nil
        }
    }

    /// Tells the client to open no new stream on this connection; open streams finish.
    func goAway() {
        let frame = HTTP2Frame(
            streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
        connection.writeAndFlush(frame, promise: nil)
    }

    func streamOpened() {
        openStreams += 1
        task?.cancel()
        task = nil
    }

    func streamClosed() {
        openStreams -= 1
        if openStreams == 0 { arm() }
    }

    private func arm() {
        guard connection.isActive else { return }
        task = connection.eventLoop.assumeIsolated().scheduleTask(in: loop.idleTimeout) { [self] in
            task = nil
            if openStreams == 0 { connection.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension HTTP2ClientConnection: Sendable {}
