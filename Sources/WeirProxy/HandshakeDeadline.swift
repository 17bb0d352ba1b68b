import NIOCore

/// Closes a connection that has not finished its TLS handshake (and ALPN) or sent its first bytes
/// (h2c sniffing) within the idle timeout, so a client cannot hold a connection open without ever
/// starting to speak. Once the protocol is set up, `ClientPipeline` cancels it and the protocol's
/// own idle handling takes over.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var task: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
    }

    private func arm(context: ChannelHandlerContext) {
        guard task == nil else { return }
        task = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
    }

    /// Takes this handler out of `channel`'s pipeline (on its loop): the protocol is established.
    static func cancel(on channel: any Channel) {
        let sync = channel.pipeline.syncOperations
        if let handler = try? sync.handler(type: HandshakeDeadline.self) {
            sync.removeHandler(handler, promise: nil)
        }
    }
}

@available(*, unavailable)
extension HandshakeDeadline: Sendable {}
