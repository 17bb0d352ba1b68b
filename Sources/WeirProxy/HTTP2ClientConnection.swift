import NIOCore
import NIOHTTP2

/// Keeps a client's HTTP/2 connection in step with the data plane: closes it when it has had no
/// open stream for the idle timeout (the HTTP/2 counterpart of `ProxyHandler`'s keep-alive idle
/// timer), and sends it a GOAWAY when the drain starts. Each stream's `ProxyHandler` reports when
/// it opens and closes; everything happens on the connection's loop. The timer is re-armed lazily
/// (when it fires early it waits for the rest), so a stream schedules and cancels nothing.
final class HTTP2ClientConnection {
    private let connection: any Channel
    private let loop: LoopState
    private var openStreams = 0
    /// When the connection last had no open stream.
    private var idleSince = NIODeadline.now()
    private var task: Scheduled<Void>?

    init(connection: any Channel, loop: LoopState) {
        self.connection = connection
        self.loop = loop
        let key = ObjectIdentifier(self)
        loop.http2Connections[key] = self
        arm(at: idleSince + loop.idleTimeout)
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
    }

    func streamClosed() {
        openStreams -= 1
        guard openStreams == 0 else { return }
        idleSince = .now()
        if task == nil { arm(at: idleSince + loop.idleTimeout) }
    }

    private func arm(at deadline: NIODeadline) {
        guard connection.isActive else { return }
        task = connection.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            task = nil
            // Streams came and went since it was armed: wait out the idle time from the last one.
            guard openStreams == 0 else { return }
            let due = idleSince + loop.idleTimeout
            if NIODeadline.now() >= due {
                connection.close(promise: nil)
            } else {
                arm(at: due)
            }
        }
    }
}

@available(*, unavailable)
extension HTTP2ClientConnection: Sendable {}
