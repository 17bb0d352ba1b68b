import NIOCore
import NIOHTTP2

/// Keeps a client's HTTP/2 connection in step with the data plane and within its limits:
/// - closes it when it has had no open stream for the idle timeout (the HTTP/2 counterpart of the
///   HTTP/1.1 keep-alive idle deadline);
/// - on drain, the two-step GOAWAY of RFC 9113 §6.8: first with the largest stream id (streams in
///   flight toward Weir are not refused), then, a round trip later, with the last stream id seen;
/// - Envoy's premature-reset check (CVE-2023-44487): once `prematureResetCheckAfter` streams have
///   ended, a connection on which at least half were reset by the client before their answer, within
///   `prematureResetLifetime` of opening, gets GOAWAY(ENHANCE_YOUR_CALM) and a lingering close;
/// - a cap on streams over the connection's lifetime (`maxStreamsPerConnection`): a graceful GOAWAY
///   at the cap, and the connection closes if the client goes on opening streams anyway.
/// Each stream's `ProxyHandler` reports when it opens, closes and is abandoned; everything happens on
/// the connection's loop. The idle timer is re-armed lazily, so a stream schedules and cancels nothing.
final class HTTP2ClientConnection {
    static let prematureResetCheckAfter = 100
    static let prematureResetLifetime = TimeAmount.seconds(1)
    static let maxStreamsPerConnection = 100_000

    private let connection: any Channel
    private let loop: LoopState
    private var openStreams = 0
    private var streamsOpened = 0
    /// The highest stream id the client opened: the second GOAWAY of a drain names it.
    private var lastStreamID = HTTP2StreamID(0)
    private var streamsEnded = 0
    private var prematureResets = 0
    private var goingAway = false
    /// Told to calm down and being closed.
    private var calming = false
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

    /// The drain: the client opens no new stream here; the ones it has finish.
    func goAway() {
        guard !goingAway else { return }
        goingAway = true
        send(goAway: .maxID, .noError)
        // One round trip later (a second is ample on any network the proxy serves), name the last
        // stream actually accepted, so streams the client opened meanwhile are known to be refused.
        connection.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in
            send(goAway: lastStreamID, .noError)
        }
    }

    private func send(goAway lastStreamID: HTTP2StreamID, _ code: HTTP2ErrorCode) {
        let frame = HTTP2Frame(
            streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: code, opaqueData: nil))
        connection.writeAndFlush(frame, promise: nil)
    }

    /// A stream opened; `id` as the stream channel reports it.
    func streamOpened(id: HTTP2StreamID?) {
        if let id, id > lastStreamID { lastStreamID = id }
        openStreams += 1
        streamsOpened += 1
        if streamsOpened == Self.maxStreamsPerConnection {
            goAway()
        } else if streamsOpened == Self.maxStreamsPerConnection + 1_000 {
            calmDown()
        }
    }

    /// The client reset a stream before its answer was complete, `lifetime` after it opened.
    func streamAbandoned(lifetime: TimeAmount) {
        if lifetime < Self.prematureResetLifetime { prematureResets += 1 }
    }

    func streamClosed() {
        openStreams -= 1
        streamsEnded += 1
        if streamsEnded >= Self.prematureResetCheckAfter, prematureResets * 2 >= streamsEnded {
            return calmDown()
        }
        guard openStreams == 0 else { return }
        idleSince = .now()
        if task == nil { arm(at: idleSince + loop.idleTimeout) }
    }

    /// An abusive client: GOAWAY(ENHANCE_YOUR_CALM) naming the last stream it opened, then a
    /// lingering close, so the client reads why before the connection ends.
    private func calmDown() {
        guard !calming else { return }
        calming = true
        send(goAway: lastStreamID, .enhanceYourCalm)
        LingeringClose.close(connection)
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
