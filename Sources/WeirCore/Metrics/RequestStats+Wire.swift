import Foundation
import Histogram

/// One second's `RequestStats` as a fleet instance stores it for the others to sum: the counts,
/// and each latency histogram as its recorded (value, count) pairs — a few hundred bytes where the
/// histogram's full arrays would be ~11 KB. Decoding and merging give the same percentiles as the
/// original (values are stored as their bucket's lowest value).
public struct RequestStatsRecord: Sendable, Codable, Hashable {
    public var requests: UInt64
    public var errors: [UInt64]
    public var firstByte: [[UInt64]]
    public var total: [[UInt64]]
    /// The LLM statistics, when the second had any (absent in records of earlier builds).
    public var llm: LLMRecord?

    enum CodingKeys: String, CodingKey {
        case requests = "r"
        case errors = "e"
        case firstByte = "f"
        case total = "t"
        case llm = "l"
    }

    /// `LLMStats` in the same compact form.
    public struct LLMRecord: Sendable, Codable, Hashable {
        public var responses: UInt64
        public var ttft: [[UInt64]]
        public var tpot: [[UInt64]]
        public var outputTokens: UInt64
        public var inputTokens: UInt64
        public var durationNanos: UInt64
        public var finishes: [UInt64]
        public var streamErrors: UInt64

        enum CodingKeys: String, CodingKey {
            case responses = "n"
            case ttft = "t"
            case tpot = "p"
            case outputTokens = "o"
            case inputTokens = "i"
            case durationNanos = "d"
            case finishes = "f"
            case streamErrors = "s"
        }

        init(_ stats: LLMStats) {
            responses = stats.responses
            ttft = stats.ttft.recordedPairs
            tpot = stats.tpot.recordedPairs
            outputTokens = stats.outputTokens
            inputTokens = stats.inputTokens
            durationNanos = stats.durationNanos
            finishes = stats.finishes
            streamErrors = stats.streamErrors
        }

        func stats(limit: UInt64) -> LLMStats? {
            guard responses < limit, streamErrors <= responses, finishes.count <= FinishReason.count,
                finishes.allSatisfy({ $0 <= responses }),
                let ttft = LatencyHistogram(recordedPairs: ttft), let tpot = LatencyHistogram(recordedPairs: tpot)
            else { return nil }
            return LLMStats(
                responses: responses, ttft: ttft, tpot: tpot, outputTokens: outputTokens, inputTokens: inputTokens,
                durationNanos: durationNanos,
                finishes: finishes + Array(repeating: 0, count: FinishReason.count - finishes.count),
                streamErrors: streamErrors)
        }
    }

    public init(_ stats: RequestStats) {
        requests = stats.requests
        errors = stats.errorsByKind
        firstByte = stats.firstByte.recordedPairs
        total = stats.total.recordedPairs
        llm = stats.llm.map(LLMRecord.init)
    }

    /// The statistics this record holds; nil when it is malformed (another build's, or damaged).
    public var stats: RequestStats? {
        // A second of one instance never holds 2^40 requests: larger counts are damage (or an
        // attack on whoever sums them), not traffic.
        let limit: UInt64 = 1 << 40
        guard errors.count <= ErrorKind.count, requests < limit, errors.allSatisfy({ $0 < limit }),
            let first = LatencyHistogram(recordedPairs: firstByte),
            let total = LatencyHistogram(recordedPairs: total)
        else { return nil }
        var llmStats: LLMStats?
        if let llm {
            guard let stats = llm.stats(limit: limit) else { return nil }
            llmStats = stats
        }
        var padded = errors
        padded += Array(repeating: 0, count: ErrorKind.count - errors.count)
        return RequestStats(requests: requests, errorsByKind: padded, firstByte: first, total: total, llm: llmStats)
    }

    /// The record as compact JSON text.
    public func encoded() -> String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// A record from `encoded()` text; nil when it is not one.
    public init?(encoded text: String) {
        guard let record = try? JSONDecoder().decode(Self.self, from: Data(text.utf8)) else { return nil }
        self = record
    }
}

extension LatencyHistogram {
    /// Every non-empty bucket as [a value in µs that records back into it, count]: the exact
    /// largest (or smallest) value for the bucket holding it, whose percentiles report it, and
    /// the bucket's lowest value for the others.
    var recordedPairs: [[UInt64]] {
        let largest = histogram.maxRecorded
        let smallest = histogram.min
        return histogram.recordedValues().map { bucket in
            let value: UInt64
            if histogram.valuesAreEquivalent(bucket.value, largest) {
                value = largest
            } else if histogram.valuesAreEquivalent(bucket.value, smallest) {
                value = smallest
            } else {
                value = histogram.lowestEquivalentForValue(bucket.value)
            }
            return [value, UInt64(bucket.count)]
        }
    }

    /// A histogram holding `pairs` of [value in µs, count]; nil when a pair is malformed.
    init?(recordedPairs pairs: [[UInt64]]) {
        self.init()
        for pair in pairs {
            guard pair.count == 2, pair[1] <= UInt64(UInt32.max), UInt64(UInt32.max) - pair[1] >= histogram.totalCount
            else { return nil }
            _ = histogram.record(min(max(pair[0], 1), Self.highestMicros), count: UInt32(pair[1]))
        }
    }
}
