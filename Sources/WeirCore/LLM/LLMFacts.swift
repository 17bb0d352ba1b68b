/// Why a generation ended, as the model server says in `finish_reason` (OpenAI names; TGI's and
/// vLLM's spellings fold into them). `none` is a response that never said: a cut stream.
public enum FinishReason: Int, Sendable, Hashable, CaseIterable {
    case stop
    case length
    case contentFilter
    case toolCalls
    /// A reason this build does not know (counted, not judged).
    case other
    /// No `finish_reason` arrived before the stream ended.
    case none

    public static let count = 6

    /// The name in metrics, the admin API and `weirctl` (`content_filter`, …).
    public var name: String {
        switch self {
        case .stop: "stop"
        case .length: "length"
        case .contentFilter: "content_filter"
        case .toolCalls: "tool_calls"
        case .other: "other"
        case .none: "none"
        }
    }

    /// The reason a `finish_reason` value's raw bytes name.
    static func named(_ bytes: UnsafeRawBufferPointer) -> FinishReason {
        func isOne(of names: StaticString...) -> Bool {
            names.contains { name in
                name.withUTF8Buffer { bytes.elementsEqual(UnsafeRawBufferPointer($0)) }
            }
        }
        if isOne(of: "stop", "eos_token", "stop_sequence", "eos") { return .stop }
        if isOne(of: "length", "max_tokens") { return .length }
        if isOne(of: "content_filter") { return .contentFilter }
        if isOne(of: "tool_calls", "function_call") { return .toolCalls }
        return .other
    }
}

/// What one LLM response showed as it streamed through: when its first token came, how fast the
/// rest followed, how many there were and why it stopped. Measured by `LLMStreamMeter`, recorded
/// with the request's `RequestOutcome`.
public struct LLMFacts: Sendable, Hashable {
    /// Request arrival to the first chunk carrying content (not the first byte); nil for a
    /// response that never produced content or was not streamed.
    public var ttftNanos: UInt64?
    /// Mean time per output token after the first: (last content − first content) / (tokens − 1);
    /// nil with fewer than two tokens.
    public var tpotNanos: UInt64?
    /// `usage.completion_tokens` when the server sent it (within 1–16 per content chunk of a
    /// stream, at most 2^24), else the content chunks counted.
    public var outputTokens: UInt64
    /// `usage.prompt_tokens`, when sent.
    public var inputTokens: UInt64
    /// Request arrival to the response's end: the time the tokens took, for tokens per second.
    public var durationNanos: UInt64
    public var finish: FinishReason
    /// The stream ended badly: an `error` event, a cut connection, or (OpenAI chunks) an end
    /// without `finish_reason` and `[DONE]`. Recorded as error kind `stream`.
    public var streamError: Bool

    public init(
        ttftNanos: UInt64? = nil, tpotNanos: UInt64? = nil, outputTokens: UInt64 = 0, inputTokens: UInt64 = 0,
        durationNanos: UInt64 = 0, finish: FinishReason = .stop, streamError: Bool = false
    ) {
        self.ttftNanos = ttftNanos
        self.tpotNanos = tpotNanos
        self.outputTokens = outputTokens
        self.inputTokens = inputTokens
        self.durationNanos = durationNanos
        self.finish = finish
        self.streamError = streamError
    }
}
