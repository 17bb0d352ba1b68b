import NIOCore

/// Closes a client's HTTP/2 connection that has had no open stream for the idle timeout (the
/// HTTP/2 counterpart of `ProxyHandler`'s keep-alive idle timer). Each stream's `ProxyHandler`
/// reports when it opens and closes; everything happens on the connection's loop.
final class HTTP2IdleTimer {
    private let connection: any Channel
    private let timeout: TimeAmount
    private var openStreams = 0
    private var task: Scheduled<Void>?

    init(connection: any Channel, timeout: TimeAmount) {
        self.connection = connection
        self.timeout = timeout
        arm()
        connection.closeFuture.assumeIsolated().whenComplete { [self] _ in
            task?.cancel()
            task = nil
        }
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
        task = connection.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            task = nil
            if openStreams == 0 { connection.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension HTTP2IdleTimer: Sendable {}
