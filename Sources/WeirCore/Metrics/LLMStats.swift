/// The LLM side of a version's `RequestStats`: time to first token, time per output token, tokens
/// and finish reasons of the responses an `LLMStreamMeter` measured. Mergeable like the rest; held
/// only by series that served LLM responses (two histograms cost ~22 KB).
public struct LLMStats: Sendable {
    /// Responses measured (streamed or not).
    public private(set) var responses: UInt64 = 0
    public private(set) var ttft = LatencyHistogram()
    public private(set) var tpot = LatencyHistogram()
    public private(set) var outputTokens: UInt64 = 0
    public private(set) var inputTokens: UInt64 = 0
    /// The measured responses' durations summed, for tokens per second.
    public private(set) var durationNanos: UInt64 = 0
    /// Indexed by `FinishReason.rawValue`.
    public private(set) var finishes: [UInt64] = Array(repeating: 0, count: FinishReason.count)
    public private(set) var streamErrors: UInt64 = 0

    public init() {}

    /// Statistics assembled from stored parts (a fleet record).
    init(
        responses: UInt64, ttft: LatencyHistogram, tpot: LatencyHistogram, outputTokens: UInt64, inputTokens: UInt64,
        durationNanos: UInt64, finishes: [UInt64], streamErrors: UInt64
    ) {
        self.responses = responses
        self.ttft = ttft
        self.tpot = tpot
        self.outputTokens = outputTokens
        self.inputTokens = inputTokens
        self.durationNanos = durationNanos
        self.finishes = finishes
        self.streamErrors = streamErrors
    }

    public mutating func record(_ facts: LLMFacts) {
        responses += 1
        if let ttftNanos = facts.ttftNanos { ttft.record(nanoseconds: ttftNanos) }
        if let tpotNanos = facts.tpotNanos { tpot.record(nanoseconds: tpotNanos) }
        outputTokens = Self.sum(outputTokens, facts.outputTokens)
        inputTokens = Self.sum(inputTokens, facts.inputTokens)
        durationNanos = Self.sum(durationNanos, facts.durationNanos)
        finishes[facts.finish.rawValue] += 1
        if facts.streamError { streamErrors += 1 }
    }

    public mutating func merge(_ other: LLMStats) {
        responses += other.responses
        ttft.merge(other.ttft)
        tpot.merge(other.tpot)
        outputTokens = Self.sum(outputTokens, other.outputTokens)
        inputTokens = Self.sum(inputTokens, other.inputTokens)
        durationNanos = Self.sum(durationNanos, other.durationNanos)
        for index in finishes.indices { finishes[index] += other.finishes[index] }
        streamErrors += other.streamErrors
    }

    /// Saturating: a counter stops at its largest value rather than wrapping.
    static func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : result
    }

    public func finishes(_ reason: FinishReason) -> UInt64 { finishes[reason.rawValue] }

    /// Share of responses that stopped at the length limit; 0 with none.
    public var finishLengthRate: Double { rate(finishes(.length)) }
    /// Share of responses whose stream failed (kind `stream`); 0 with none.
    public var streamErrorRate: Double { rate(streamErrors) }
    /// Output tokens per response; 0 with none.
    public var outputTokensMean: Double { rate(outputTokens) }
    /// Output tokens per second of response time; nil with no time measured.
    public var tokensPerSecond: Double? {
        durationNanos == 0 ? nil : Double(outputTokens) / (Double(durationNanos) / 1e9)
    }

    private func rate(_ count: UInt64) -> Double { responses == 0 ? 0 : Double(count) / Double(responses) }
}
