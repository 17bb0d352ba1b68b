/// Measures one LLM response as its bytes pass to the client: the server-sent events of a stream
/// (OpenAI chunks, KServe `generate_stream`) or one JSON completion. It reads the buffers the
/// proxy forwards — never copies them for the client, delays or re-chunks them — and keeps only an
/// event's `data` lines (bounded by `maxEventBytes`) until the event ends.
///
/// Pure: times are passed in (nanoseconds on the clock the request's start is on), so tests feed
/// byte splits and times of their choosing.
public struct LLMStreamMeter: Sendable {
    /// How the response body is framed.
    public enum Framing: Sendable, Hashable {
        /// `text/event-stream`: one JSON document per event.
        case events
        /// One JSON document (a non-streamed completion): read for `usage` and `finish_reason`.
        case document
    }

    /// An event's (or a document's) bytes beyond this are not kept: it is skipped, not measured.
    public static let maxEventBytes = 64 * 1024
    public static let maxDocumentBytes = 256 * 1024
    /// No answer has more output tokens than this; a larger `usage` is clamped (sums never wrap).
    public static let maxTokens: UInt64 = 1 << 24
    /// A stream's `usage` may say up to this many tokens per content chunk (servers batch a few);
    /// more would make the time per token look better than the chunks show.
    public static let maxTokensPerChunk: UInt64 = 16

    public let framing: Framing
    /// Facts are reported only once a completion-shaped document was seen (auto-detection); a
    /// route declared `llm:` reports every response.
    public let requireShape: Bool
    private let startedAt: UInt64

    /// The current line, when it is a `data:`/`event:` line split across buffers.
    /// The current line's first bytes until its field is known, then an `event:` line's value;
    /// a `data:` line's value goes straight into `data` (one copy, not two).
    private var line: [UInt8] = []
    private var lineKind = LineKind.unknown
    /// No byte of the current `data:` line's value taken yet (its one leading space is dropped).
    private var dataLineFresh = false
    private var lastByteWasCR = false
    /// Bytes of the body read so far (a leading UTF-8 BOM is skipped, as the SSE standard says).
    private var bodyBytes = 0
    /// The current event's `data`, lines joined with `\n`.
    private var data: [UInt8] = []
    private var eventIsError = false
    private var oversized = false

    private var shaped = false
    private var openAI = false
    private var sawDone = false
    private var errorEvent = false
    private var contentChunks: UInt64 = 0
    private var firstContentAt: UInt64?
    private var lastContentAt: UInt64?
    private var completionTokens: UInt64?
    private var promptTokens: UInt64?
    private var finish: FinishReason?
    /// The chunk scanner's key-path storage, kept across chunks.
    private var scanPath: [CompletionChunkScanner.Key] = []

    private enum LineKind {
        /// Not known yet (the line's first bytes are still to come).
        case unknown
        case data
        case event
        /// A comment, `id:`, `retry:` or anything else: skipped to its end.
        case skipped
    }

    public init(framing: Framing, requireShape: Bool, startedAt: UInt64) {
        self.framing = framing
        self.requireShape = requireShape
        self.startedAt = startedAt
    }

    /// Reads the next bytes of the body, which arrived at `now`.
    public mutating func read(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        var bytes = bytes
        if bodyBytes < 3 {
            // Skip what of a leading BOM (EF BB BF) is in this buffer.
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            var skip = 0
            while bodyBytes + skip < 3, skip < bytes.count, bytes[skip] == bom[bodyBytes + skip] { skip += 1 }
            if bodyBytes + skip == 3 || (skip == bytes.count && skip > 0) {
                bodyBytes += skip
                bytes = UnsafeRawBufferPointer(rebasing: bytes[skip...])
            } else {
                bodyBytes = 3
            }
        }
        switch framing {
        case .document:
            guard !oversized else { return }
            if data.count + bytes.count > Self.maxDocumentBytes {
                oversized = true
                data = []
            } else {
                data.append(contentsOf: bytes)
            }
        case .events:
            readEvents(bytes, now: now)
        }
    }

    /// The facts of the finished response (a stream of OpenAI chunks that ends without
    /// `finish_reason` or `[DONE]` is a stream error; a KServe one may just end) (the body ended at `now`; `cut`: the connection failed
    /// before its end); nil when a stream never looked like a completion and none was declared.
    public mutating func finish(now: UInt64, cut: Bool) -> LLMFacts? {
        switch framing {
        case .document:
            if !oversized && !cut, let fields = data.withUnsafeBytes({ CompletionChunkScanner.scan($0) }) {
                apply(fields, at: now, countsChunk: false)
            }
        case .events:
            // A last event not followed by a blank line is dispatched by the end of the stream.
            if !cut {
                endLine(now: now)
                if !data.isEmpty { dispatch(now: now) }
            }
        }
        switch framing {
        case .document:
            // Only a completion read whole says anything (not /v1/models, not a cut-off body).
            guard shaped, !oversized else { return nil }
        case .events:
            guard shaped || !requireShape else { return nil }
        }
        var tokens = min(completionTokens ?? contentChunks, Self.maxTokens)
        if framing == .events, completionTokens != nil {
            tokens = min(max(tokens, contentChunks), contentChunks * Self.maxTokensPerChunk)
        }
        var facts = LLMFacts(
            outputTokens: tokens, inputTokens: promptTokens ?? 0,
            durationNanos: now > startedAt ? now - startedAt : 0, finish: finish ?? .none)
        if framing == .events, let first = firstContentAt {
            facts.ttftNanos = first > startedAt ? first - startedAt : 0
            if tokens >= 2, let last = lastContentAt, last > first {
                facts.tpotNanos = (last - first) / (tokens - 1)
            }
        }
        // OpenAI streams end with a finish_reason and [DONE]; KServe's generate_stream just ends.
        let endedWell = framing == .document || finish != nil || sawDone || !openAI
        facts.streamError = errorEvent || cut || !endedWell
        return facts
    }

    // MARK: Server-sent events (HTML Living Standard §9.2.6)

    private mutating func readEvents(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        var start = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") && lastByteWasCR {
                // The LF of a CRLF (perhaps split across buffers): the line already ended.
                lastByteWasCR = false
                index += 1
                start = index
                continue
            }
            lastByteWasCR = false
            index += 1
            guard byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") else { continue }
            take(UnsafeRawBufferPointer(rebasing: bytes[start..<index - 1]))
            endLine(now: now)
            lastByteWasCR = byte == UInt8(ascii: "\r")
            start = index
        }
        take(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]))
    }

    /// Adds a piece of the current line.
    private mutating func take(_ piece: UnsafeRawBufferPointer) {
        guard !piece.isEmpty else { return }
        switch lineKind {
        case .unknown:
            line.append(contentsOf: piece)
            classifyLine(complete: false)
        case .data:
            appendData(piece)
        case .event:
            // An event name longer than any the meter looks for is not one it looks for.
            if line.count + piece.count <= 64 { line.append(contentsOf: piece) }
        case .skipped:
            break
        }
    }

    /// Names the current line's field once its first bytes tell (or, `complete`, it has ended).
    private mutating func classifyLine(complete: Bool) {
        if line.starts(with: "data:".utf8) {
            lineKind = .data
            // Data lines of one event are joined with a line feed.
            if !data.isEmpty { appendBytes([UInt8(ascii: "\n")]) }
            dataLineFresh = true
            line.withUnsafeBytes { appendData(UnsafeRawBufferPointer(rebasing: $0[5...])) }
            line.removeAll(keepingCapacity: true)
        } else if line.starts(with: "event:".utf8) {
            lineKind = .event
        } else if complete || !("data:".utf8.starts(with: line) || "event:".utf8.starts(with: line)) {
            lineKind = .skipped
            line.removeAll(keepingCapacity: true)
        }
    }

    /// Adds a piece of a `data:` line's value to the event's data.
    private mutating func appendData(_ piece: UnsafeRawBufferPointer) {
        var piece = piece
        if dataLineFresh {
            guard !piece.isEmpty else { return }
            dataLineFresh = false
            if piece[0] == UInt8(ascii: " ") { piece = UnsafeRawBufferPointer(rebasing: piece[1...]) }
        }
        appendBytes(piece)
    }

    private mutating func appendBytes(_ bytes: some Collection<UInt8>) {
        guard !oversized else { return }
        if data.count + bytes.count > Self.maxEventBytes {
            oversized = true
        } else {
            data.append(contentsOf: bytes)
        }
    }

    /// The current line is complete: a field joins the event; an empty line dispatches it.
    private mutating func endLine(now: UInt64) {
        defer {
            line.removeAll(keepingCapacity: true)
            lineKind = .unknown
            dataLineFresh = false
        }
        if lineKind == .unknown {
            if line.isEmpty {
                dispatch(now: now)
                return
            }
            classifyLine(complete: true)
        }
        if lineKind == .event {
            var value = line.dropFirst(6)
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            eventIsError = value.elementsEqual("error".utf8)
        }
    }

    /// One whole event: its data is a JSON chunk, `[DONE]`, or an error.
    private mutating func dispatch(now: UInt64) {
        defer {
            data.removeAll(keepingCapacity: data.capacity <= 4096)
            eventIsError = false
            oversized = false
        }
        // An event without data is not dispatched (HTML §9.2.6), `event: error` included.
        guard !oversized, !data.isEmpty else { return }
        if eventIsError {
            errorEvent = true
            return
        }
        if data.elementsEqual("[DONE]".utf8) {
            sawDone = true
            return
        }
        if let fields = data.withUnsafeBytes({ CompletionChunkScanner.scan($0, reusing: &scanPath) }) {
            apply(fields, at: now, countsChunk: true)
        }
    }

    private mutating func apply(_ fields: CompletionChunkScanner.Fields, at now: UInt64, countsChunk: Bool) {
        if fields.shaped { shaped = true }
        if fields.openAI { openAI = true }
        if fields.error { errorEvent = true }
        if fields.content {
            if countsChunk { contentChunks += 1 }
            if firstContentAt == nil { firstContentAt = now }
            lastContentAt = now
        }
        if let reason = fields.finish { finish = reason }
        if let tokens = fields.completionTokens { completionTokens = tokens }
        if let tokens = fields.promptTokens { promptTokens = tokens }
    }
}
