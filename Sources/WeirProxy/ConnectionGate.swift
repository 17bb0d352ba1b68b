import NIOCore

/// The first handler of every client connection: counts open connections on its loop and refuses
/// (closes before reading) any beyond the loop's share of `server.max_connections`, whatever
/// protocol the connection goes on to speak.
final class ConnectionGate: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let loop: LoopState
    private var counted = false

    init(loop: LoopState) {
        self.loop = loop
    }

    func channelActive(context: ChannelHandlerContext) {
        loop.openConnections += 1
        counted = true
        if loop.openConnections > loop.maxConnections {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { loop.openConnections -= 1 }
        counted = false
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension ConnectionGate: Sendable {}
