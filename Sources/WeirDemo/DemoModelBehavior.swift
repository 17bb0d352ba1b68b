/// How a demo model server behaves: which version it claims to be, how often it fails and how slow
/// it is. The quickstart runs a healthy v1 and a v2 whose faults show a rollback.
public struct DemoModelBehavior: Sendable {
    /// The version name reported in responses (`model_version`, `x-demo-version`).
    public var version: String
    /// Share of inference requests answered with 500 (0–1).
    public var errorRate: Double
    /// Added latency per inference request, in milliseconds.
    public var latencyMillis: Int
    /// Extra latency drawn uniformly from 0 up to this many milliseconds.
    public var jitterMillis: Int
    /// Events per streamed (SSE) response.
    public var streamChunks: Int
    /// Milliseconds between streamed events.
    public var streamIntervalMillis: Int

    /// OpenAI-compatible generation (`/v1/chat/completions`, `/v1/completions`): milliseconds to
    /// the first token, between tokens, tokens per answer (capped by the request's `max_tokens`).
    public var ttftMillis: Int = 100
    public var tpotMillis: Int = 10
    public var outputTokens: Int = 32
    /// Share of answers that stop at the length limit (`finish_reason: length`) instead of `stop`.
    public var lengthRate: Double = 0
    /// Share of streamed answers the server cuts mid-way (closes the connection).
    public var streamCutRate: Double = 0

    /// Seeded answers for shadow comparisons: `infer` answers a class (`outputs[0]`, one of eight
    /// animals) and a score (`outputs[1]`, roughly normal) drawn from a hash of the request body, so
    /// the same input gets the same answer — unless one of these changes it.
    public var seededOutputs = false
    /// Share of inputs (chosen by input, so the same ones every time) whose class this version flips.
    public var flipRate: Double = 0
    /// Added to every score, in standard deviations.
    public var scoreShift: Double = 0
    /// Share of answers whose class is drawn at random (a nondeterministic model).
    public var labelNoise: Double = 0

    public init(
        version: String,
        errorRate: Double = 0,
        latencyMillis: Int = 0,
        jitterMillis: Int = 0,
        streamChunks: Int = 5,
        streamIntervalMillis: Int = 200
    ) {
        self.version = version
        self.errorRate = errorRate
        self.latencyMillis = latencyMillis
        self.jitterMillis = jitterMillis
        self.streamChunks = streamChunks
        self.streamIntervalMillis = streamIntervalMillis
    }
}
