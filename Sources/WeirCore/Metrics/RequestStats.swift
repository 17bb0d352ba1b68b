/// Everything measured for one version over some span of time: counts, errors by kind and the two
/// latency distributions (first byte, last byte). Mergeable, so per-second and per-event-loop
/// pieces add up to any window.
public struct RequestStats: Sendable {
    public private(set) var requests: UInt64 = 0
    /// Indexed by `ErrorKind.index`.
    public private(set) var errorsByKind: [UInt64] = Array(repeating: 0, count: ErrorKind.count)
    public private(set) var firstByte = LatencyHistogram()
    public private(set) var total = LatencyHistogram()
    /// Time to first token, tokens and finish reasons, once an LLM response was measured.
    public private(set) var llm: LLMStats?

    public init() {}

    /// Statistics assembled from stored parts (a fleet record).
    init(
        requests: UInt64, errorsByKind: [UInt64], firstByte: LatencyHistogram, total: LatencyHistogram,
        llm: LLMStats? = nil
    ) {
        self.requests = requests
        self.errorsByKind = errorsByKind
        self.firstByte = firstByte
        self.total = total
        self.llm = llm
    }

    public mutating func record(_ outcome: RequestOutcome) {
        if outcome.failure == .client {
            // The client's fault: counted apart, never in the version's requests, rates or latency.
            errorsByKind[ErrorKind.client.index] += 1
            return
        }
        requests += 1
        if let kind = outcome.errorKind { errorsByKind[kind.index] += 1 }
        if let firstByteNanos = outcome.firstByteNanos { firstByte.record(nanoseconds: firstByteNanos) }
        total.record(nanoseconds: outcome.totalNanos)
        if let facts = outcome.llm {
            if llm == nil { llm = LLMStats() }
            llm!.record(facts)
        }
    }

    public mutating func merge(_ other: RequestStats) {
        requests += other.requests
        for index in errorsByKind.indices { errorsByKind[index] += other.errorsByKind[index] }
        firstByte.merge(other.firstByte)
        total.merge(other.total)
        if let other = other.llm {
            if llm == nil { llm = LLMStats() }
            llm!.merge(other)
        }
    }

    public mutating func reset() {
        requests = 0
        for index in errorsByKind.indices { errorsByKind[index] = 0 }
        firstByte.reset()
        total.reset()
        llm = nil
    }

    public func errors(of kind: ErrorKind) -> UInt64 { errorsByKind[kind.index] }

    /// Exchanges the client failed (`ErrorKind.client`); not part of `requests`.
    public var clientFaults: UInt64 { errorsByKind[ErrorKind.client.index] }

    /// Requests that count as errors under a policy's set of error kinds.
    public func errors(countingAs kinds: Set<ErrorKind>) -> UInt64 {
        kinds.reduce(0) { $0 + errorsByKind[$1.index] }
    }

    /// The error rate under a policy's kinds; 0 with no requests.
    public func errorRate(countingAs kinds: Set<ErrorKind>) -> Double {
        requests == 0 ? 0 : Double(errors(countingAs: kinds)) / Double(requests)
    }
}
