import NIOCore

/// Closes a connection the way nginx's lingering close does, for a connection weir ends while the
/// peer may still be sending (an HTTP/2 flood told GOAWAY(ENHANCE_YOUR_CALM)): everything it sends
/// from now on is dropped unread at the front of the pipeline, weir's side is shut for writing (the
/// peer reads what was sent, then end of stream), and the connection closes at the latest after
/// `lingerTime`. Closing at once with unread bytes in the kernel makes it answer with a TCP reset,
/// and a reset throws away the peer's unread data — the GOAWAY that says why among it.
enum LingeringClose {
    static let lingerTime = TimeAmount.seconds(2)

    static func close(_ channel: any Channel, after linger: TimeAmount = lingerTime) {
        let loop = channel.eventLoop
        channel.pipeline.addHandler(InboundDiscarder(), position: .first).whenComplete { added in
            guard case .success = added else { return channel.close(promise: nil) }
            let halfClosed = loop.makePromise(of: Void.self)
            channel.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.whenComplete { shut in
                // A transport that cannot half-close (some TLS set-ups) closes outright.
                guard case .success = shut else { return channel.close(promise: nil) }
                loop.scheduleTask(in: linger) { channel.close(promise: nil) }
            }
        }
    }
}

/// Drops every inbound read of a connection being closed, so nothing the peer sends reaches a
/// handler behind it (no new HTTP/2 stream, no upstream dial).
private final class InboundDiscarder: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    func channelReadComplete(context: ChannelHandlerContext) {}
}
