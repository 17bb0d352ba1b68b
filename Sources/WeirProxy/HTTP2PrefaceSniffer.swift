import NIOCore

/// Tells a cleartext HTTP/2 connection (prior knowledge: it opens with the h2 preface
/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`) from an HTTP/1.1 one by its first bytes, sets up the
/// pipeline for the one it is, then replays the bytes and steps aside.
final class HTTP2PrefaceSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let configure: (any Channel, Bool) throws -> Void
    private var seen: ByteBuffer?

    /// `configure(channel, isHTTP2)` adds the handlers that serve the connection after this one.
    init(configure: @escaping (any Channel, Bool) throws -> Void) {
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if seen == nil {
            seen = bytes
        } else {
            seen!.writeBuffer(&bytes)
        }
        let view = seen!.readableBytesView
        let compared = min(view.count, Self.preface.count)
        if !view.prefix(compared).elementsEqual(Self.preface.prefix(compared)) {
            decide(context: context, isHTTP2: false)
        } else if compared == Self.preface.count {
            decide(context: context, isHTTP2: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        seen = nil
        context.fireChannelInactive()
    }

    private func decide(context: ChannelHandlerContext, isHTTP2: Bool) {
        do {
            try configure(context.channel, isHTTP2)
        } catch {
            context.close(promise: nil)
            return
        }
        if let seen {
            self.seen = nil
            context.fireChannelRead(wrapInboundOut(seen))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension HTTP2PrefaceSniffer: Sendable {}
