/// What happened to one proxied request, as the data plane reports it to the measurement windows.
public struct RequestOutcome: Sendable, Hashable {
    /// The upstream's status, or nil when no complete status arrived (connect failure, timeout before
    /// the head, reset).
    public var status: Int?
    /// The failure that ended the request, if the transport failed; a completed 5xx has none here
    /// and is classified from `status`.
    public var failure: ErrorKind?
    /// Nanoseconds from the request's arrival to the first response byte from the upstream; nil when
    /// none arrived.
    public var firstByteNanos: UInt64?
    /// Nanoseconds from the request's arrival to the end of the response (or of the failure).
    public var totalNanos: UInt64
    /// What an LLM response showed (`route.llm`, or an SSE stream that looked like one); nil otherwise.
    public var llm: LLMFacts?

    public init(status: Int?, failure: ErrorKind?, firstByteNanos: UInt64?, totalNanos: UInt64, llm: LLMFacts? = nil) {
        self.status = status
        self.failure = failure
        self.firstByteNanos = firstByteNanos
        self.totalNanos = totalNanos
        self.llm = llm
    }

    /// The one error kind this outcome counts as, if any: a transport failure first, else the status class.
    @inlinable
    public var errorKind: ErrorKind? {
        if let failure { return failure }
        if let status { return ErrorKind.forStatus(status) }
        return nil
    }
}
