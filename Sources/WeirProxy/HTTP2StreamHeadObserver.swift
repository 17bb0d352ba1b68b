import NIOCore
import NIOHTTP2

/// Sits in front of an HTTP/2 stream's HTTP/1 translation and remembers whether the request's
/// HEADERS frame ended the stream. The translation hides END_STREAM, but the framing rule needs it:
/// a stream with DATA and no `content-length` goes upstream chunked, one without DATA goes with no body.
final class HTTP2StreamHeadObserver: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    private(set) var headersEndedStream = false
    private var sawHeaders = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !sawHeaders, case .headers(let headers) = unwrapInboundIn(data) {
            sawHeaders = true
            headersEndedStream = headers.endStream
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension HTTP2StreamHeadObserver: Sendable {}
