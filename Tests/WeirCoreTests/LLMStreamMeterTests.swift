import Testing
import WeirCore

@Suite struct LLMStreamMeterTests {
    static let ms: UInt64 = 1_000_000

    /// An OpenAI chat stream: a role chunk without content, `tokens` content chunks, a finish chunk,
    /// a usage chunk and `[DONE]`.
    static func chatStream(tokens: Int, finish: String = "stop", usage: Int? = nil, lineEnd: String = "\n") -> [String] {
        var events = [#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#]
        for index in 0..<tokens {
            events.append(#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok\#(index) \"q\""},"finish_reason":null}]}"#)
        }
        events.append(#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"\#(finish)"}]}"#)
        if let usage {
            events.append(#"{"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":\#(usage),"total_tokens":\#(usage + 12)}}"#)
        }
        events.append("[DONE]")
        return events.map { "data: \($0)\(lineEnd)\(lineEnd)" }
    }

    /// Feeds each event at its own time: event i arrives at `times[i]`.
    static func measure(
        _ events: [String], times: [UInt64], split: Int? = nil, framing: LLMStreamMeter.Framing = .events,
        requireShape: Bool = false, endAt: UInt64? = nil, cut: Bool = false
    ) -> LLMFacts? {
        var meter = LLMStreamMeter(framing: framing, requireShape: requireShape, startedAt: 0)
        for (index, event) in events.enumerated() {
            let bytes = Array(event.utf8)
            let piece = split ?? bytes.count
            var start = 0
            while start < bytes.count {
                let end = min(start + max(piece, 1), bytes.count)
                bytes[start..<end].withUnsafeBytes { meter.read($0, now: times[index]) }
                start = end
            }
        }
        return meter.finish(now: endAt ?? (times.last ?? 0) + 1, cut: cut)
    }

    @Test func measuresTimeToFirstTokenTimePerTokenAndFinishFromAChatStream() throws {
        let events = Self.chatStream(tokens: 11)
        // Role chunk at 50 ms (no content), tokens at 100, 120, …, 300 ms.
        let times = [50 * Self.ms] + (0..<11).map { UInt64(100 + 20 * $0) * Self.ms } + [310 * Self.ms, 311 * Self.ms]
        let facts = try #require(Self.measure(events, times: times))
        #expect(facts.ttftNanos == 100 * Self.ms)
        #expect(facts.tpotNanos == 20 * Self.ms)
        #expect(facts.outputTokens == 11)
        #expect(facts.finish == .stop)
        #expect(!facts.streamError)
    }

    @Test func theSameFactsWhateverTheBufferBoundariesAndLineEndings() throws {
        let times = (0..<15).map { UInt64($0 + 1) * 10 * Self.ms }
        let reference = try #require(Self.measure(Self.chatStream(tokens: 11, usage: 40), times: times))
        for lineEnd in ["\n", "\r\n", "\r"] {
            for split in [1, 2, 3, 7, 64] {
                let facts = Self.measure(Self.chatStream(tokens: 11, usage: 40, lineEnd: lineEnd), times: times, split: split)
                #expect(facts == reference, "line end \(lineEnd.debugDescription), split \(split)")
            }
        }
        #expect(reference.outputTokens == 40 && reference.inputTokens == 12)
    }

    @Test func usageOverridesCountedChunksAndTimePerTokenUsesIt() throws {
        // 5 chunks carrying 4 tokens each (a server that batches): usage says 20.
        let events = Self.chatStream(tokens: 5, usage: 20)
        let times = [0] + (0..<5).map { UInt64(100 + 76 * $0) * Self.ms } + [500 * Self.ms, 501 * Self.ms, 502 * Self.ms]
        let facts = try #require(Self.measure(events, times: times))
        #expect(facts.outputTokens == 20)
        #expect(facts.tpotNanos == 304 * Self.ms / 19)
    }

    @Test func finishReasonsAreNamedAndALengthStopIsNoError() throws {
        for (text, reason) in [
            ("length", FinishReason.length), ("content_filter", .contentFilter), ("tool_calls", .toolCalls),
            ("eos_token", .stop), ("something_new", .other),
        ] {
            let events = Self.chatStream(tokens: 3, finish: text)
            let facts = try #require(Self.measure(events, times: Array(repeating: Self.ms, count: events.count)))
            #expect(facts.finish == reason)
            #expect(!facts.streamError)
        }
    }

    @Test func aCutStreamAnErrorEventAndAnEndWithoutFinishAreStreamErrors() throws {
        let whole = Self.chatStream(tokens: 6)
        let times = Array(repeating: Self.ms, count: whole.count)
        // Cut by the connection after 4 events.
        let cut = try #require(Self.measure(Array(whole.prefix(4)), times: times, cut: true))
        #expect(cut.streamError && cut.finish == .none && cut.outputTokens == 3)
        // Ended cleanly by HTTP but with neither a finish_reason nor [DONE].
        let unfinished = try #require(Self.measure(Array(whole.prefix(4)), times: times))
        #expect(unfinished.streamError && unfinished.finish == .none)
        // An `event: error` mid-way, and vLLM's `{"error": …}` / `{"object":"error"}` chunks.
        for errorEvent in [
            "event: error\ndata: {\"message\":\"overloaded\"}\n\n", "data: {\"error\":{\"message\":\"boom\",\"code\":500}}\n\n",
            "data: {\"object\":\"error\",\"message\":\"boom\"}\n\n",
        ] {
            let events = Array(whole.prefix(3)) + [errorEvent] + Array(whole.dropFirst(3))
            let facts = try #require(Self.measure(events, times: Array(repeating: Self.ms, count: events.count)))
            #expect(facts.streamError, "\(errorEvent)")
        }
        // `"error": null` is not an error.
        let nullError = ["data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"error\":null}\n\n"] + Array(whole.suffix(2))
        #expect(Self.measure(nullError, times: [1, 2, 3])?.streamError == false)
    }

    @Test func anUndeclaredStreamIsReportedOnlyWhenItLooksLikeACompletion() throws {
        let notLLM = ["data: {\"progress\":0.5}\n\n", "data: {\"progress\":1}\n\n"]
        #expect(Self.measure(notLLM, times: [1, 2], requireShape: true) == nil)
        let llm = Self.chatStream(tokens: 2)
        #expect(Self.measure(llm, times: Array(repeating: 1, count: llm.count), requireShape: true) != nil)
    }

    @Test func kserveGenerateStreamEventsCountAsTokens() throws {
        let events = (0..<4).map { "data: {\"model_name\":\"m\",\"model_version\":\"1\",\"text_output\":\"t\($0)\"}\n\n" }
        let facts = try #require(Self.measure(events, times: [10, 20, 30, 40].map { $0 * Self.ms }, requireShape: true))
        #expect(facts.outputTokens == 4 && facts.ttftNanos == 10 * Self.ms && facts.tpotNanos == 10 * Self.ms)
        // generate_stream has no finish_reason or [DONE]: a clean end is no error, a cut one is.
        #expect(!facts.streamError && facts.finish == .none)
        let cut = Self.measure(Array(events.prefix(2)), times: [1, 2], requireShape: true, cut: true)
        #expect(cut?.streamError == true)
    }

    @Test func completionsTextChunksAndToolCallChunksAreContent() throws {
        let events = [
            "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":\"Hello\",\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
            "data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n", "data: [DONE]\n\n",
        ]
        let facts = try #require(Self.measure(events, times: [1, 2, 3, 4, 5].map { $0 * Self.ms }))
        #expect(facts.outputTokens == 3 && facts.finish == .length)
    }

    @Test func aJSONCompletionIsReadForUsageAndFinishAcrossBuffers() throws {
        let body = #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\""},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":64,"total_tokens":73}}"#
        let facts = try #require(Self.measure([body], times: [5 * Self.ms], split: 7, framing: .document, endAt: 80 * Self.ms))
        #expect(facts.outputTokens == 64 && facts.inputTokens == 9 && facts.finish == .length)
        #expect(facts.ttftNanos == nil && facts.durationNanos == 80 * Self.ms && !facts.streamError)
    }

    @Test func hostileEventsAreSkippedNotBufferedWithoutBound() throws {
        // A 1 MiB data line, nested arrays beyond the depth limit, comments, ids and junk: the meter
        // keeps at most one event's worth of bytes and still reads the good events around them.
        let huge = "data: {\"choices\":[{\"delta\":{\"content\":\"" + String(repeating: "x", count: 1 << 20) + "\"}}]}\n\n"
        let deep = "data: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n\n"
        let junk = ": keep-alive\nid: 7\nretry: 10\nfoo: bar\ndata: {not json\n\n"
        let good = Self.chatStream(tokens: 2)
        let events = [good[0], huge, deep, junk] + Array(good.dropFirst())
        let facts = try #require(Self.measure(events, times: Array(repeating: Self.ms, count: events.count), split: 4096))
        #expect(facts.outputTokens == 2 && facts.finish == .stop && !facts.streamError)
    }

    @Test func scannerRejectsMalformedDocuments() {
        for text in ["", "{", "{\"a\":}", "[1,]", "{\"a\":1}x", "\"unterminated", "{\"a\":tru}", "{\"a\" 1}"] {
            let fields = Array(text.utf8).withUnsafeBytes { CompletionChunkScanner.scan($0) }
            #expect(fields == nil, "\(text)")
        }
        let ok = Array(#" {"usage": {"completion_tokens": 1.5e3, "prompt_tokens": -1}, "choices": []} "#.utf8)
            .withUnsafeBytes { CompletionChunkScanner.scan($0) }
        #expect(ok?.shaped == true && ok?.completionTokens == nil && ok?.promptTokens == nil)
    }

    @Test func llmStatsAggregateRatesAndSurviveTheFleetRecord() throws {
        var stats = RequestStats()
        for index in 0..<10 {
            let facts = LLMFacts(
                ttftNanos: UInt64(100 + index) * Self.ms, tpotNanos: 20 * Self.ms, outputTokens: 100, inputTokens: 10,
                durationNanos: 2_000 * Self.ms, finish: index < 3 ? .length : .stop, streamError: index == 9)
            stats.record(
                RequestOutcome(
                    status: 200, failure: index == 9 ? .stream : nil, firstByteNanos: Self.ms, totalNanos: 2_000 * Self.ms,
                    llm: facts))
        }
        stats.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: 1, totalNanos: 2))
        let llm = try #require(stats.llm)
        #expect(llm.responses == 10 && stats.requests == 11)
        #expect(llm.finishLengthRate == 0.3 && llm.streamErrorRate == 0.1 && llm.outputTokensMean == 100)
        #expect(abs((llm.tokensPerSecond ?? 0) - 50) < 1e-9)
        #expect(stats.errors(of: .stream) == 1)
        let restored = try #require(RequestStatsRecord(encoded: RequestStatsRecord(stats).encoded())?.stats)
        #expect(restored.llm?.responses == 10 && restored.llm?.finishes(.length) == 3)
        #expect(restored.llm?.ttft.seconds(atPercentile: 50) == llm.ttft.seconds(atPercentile: 50))
        // A record of an earlier build has no LLM part.
        #expect(RequestStatsRecord(encoded: #"{"r":1,"e":[],"f":[],"t":[[5,1]]}"#)?.stats?.llm == nil)
    }

    /// Regressions from the attacker's review: values that are not errors or content, a BOM, lying
    /// usage numbers, and JSON answers that are not completions.
    @Test func oddValuesLyingUsageAndNonCompletionsDoNotCorruptTheNumbers() throws {
        let tail = Self.chatStream(tokens: 2)
        for odd in [
            "data: {\"choices\":[{\"delta\":{}}],\"error\":false}\n\n", "data: {\"error\":0,\"choices\":[]}\n\n",
            "event: error\n\n",
        ] {
            let facts = try #require(Self.measure([odd] + tail, times: Array(repeating: Self.ms, count: tail.count + 1)))
            #expect(!facts.streamError, "\(odd)")
        }
        // `"content": 0` is not text: no first token until real text arrives.
        let numeric = ["data: {\"choices\":[{\"delta\":{\"content\":0}}]}\n\n"] + tail
        let times = [10 * Self.ms] + Array(repeating: 50 * Self.ms, count: tail.count)
        #expect(Self.measure(numeric, times: times)?.ttftNanos == 50 * Self.ms)
        // A leading BOM (split across buffers) does not hide the first event.
        let bom = String(decoding: [0xEF, 0xBB, 0xBF], as: UTF8.self) + tail[1]
        let withBOM = try #require(Self.measure([bom] + Array(tail.dropFirst(2)), times: [1, 2, 3, 4], split: 2))
        #expect(withBOM.outputTokens == 2)
        // usage claiming 2^53 tokens for 3 chunks: clamped to 16 per chunk, and sums saturate.
        let lying = Array(Self.chatStream(tokens: 3, usage: 1 << 50))
        let facts = try #require(Self.measure(lying, times: Array(repeating: Self.ms, count: lying.count)))
        #expect(facts.outputTokens == 48)
        var stats = LLMStats()
        for _ in 0..<3 { stats.record(LLMFacts(outputTokens: .max / 2)) }
        #expect(stats.outputTokens == .max)
        // On an llm route, JSON that is no completion (/v1/models) or is cut off by the cap says nothing.
        let models = #"{"object":"list","data":[{"id":"llama","object":"model"}]}"#
        #expect(Self.measure([models], times: [1], framing: .document) == nil)
        let big = #"{"choices":[{"message":{"content":""# + String(repeating: "x", count: 300 * 1024)
            + #""},"finish_reason":"length"}],"usage":{"completion_tokens":9}}"#
        #expect(Self.measure([big], times: [1], split: 8192, framing: .document) == nil)
    }
}
