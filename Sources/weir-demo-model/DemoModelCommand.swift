import ArgumentParser
import NIOPosix
import WeirDemo

/// `weir-demo-model`: a small V2-inference model server for the quickstart and the tests.
@main
struct DemoModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir-demo-model",
        abstract: "A demo model server speaking the KServe V2 inference protocol and OpenAI-compatible completions over HTTP/1.1."
    )

    @Option(help: "Port to listen on (0 picks a free one).") var port: Int = 9001
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Version name reported in responses.") var version: String = "v1"
    @Option(help: "Share of inference requests that fail with 500 (0-1).") var errorRate: Double = 0
    @Option(help: "Added latency per inference, in milliseconds.") var latencyMs: Int = 0
    @Option(help: "Random extra latency up to this many milliseconds.") var jitterMs: Int = 0
    @Option(help: "Events per streamed (SSE) response.") var streamChunks: Int = 5
    @Option(help: "Milliseconds between streamed events.") var streamIntervalMs: Int = 200
    @Option(help: "OpenAI endpoints: milliseconds to the first token.") var ttftMs: Int = 100
    @Option(help: "OpenAI endpoints: milliseconds between tokens.") var tpotMs: Int = 10
    @Option(help: "OpenAI endpoints: tokens per answer (capped by max_tokens).") var outputTokens: Int = 32
    @Option(help: "OpenAI endpoints: share of answers ending with finish_reason length (0-1).") var lengthRate: Double = 0
    @Option(help: "OpenAI endpoints: share of streams cut mid-way (0-1).") var streamCutRate: Double = 0
    @Flag(help: "Seeded infer answers (a class and a score from the request body) for shadow comparisons.")
    var seededOutputs = false
    @Option(help: "Seeded answers: share of inputs whose class this version flips (0-1).") var flipRate: Double = 0
    @Option(help: "Seeded answers: shift of every score, in standard deviations.") var scoreShift: Double = 0
    @Option(help: "Seeded answers: share of answers with a random class (0-1).") var labelNoise: Double = 0

    func validate() throws {
        guard (0...1).contains(errorRate) else { throw ValidationError("--error-rate must be between 0 and 1") }
        guard latencyMs >= 0, jitterMs >= 0, ttftMs >= 0, tpotMs >= 0 else {
            throw ValidationError("latencies must not be negative")
        }
        guard (0...1).contains(lengthRate), (0...1).contains(streamCutRate) else {
            throw ValidationError("--length-rate and --stream-cut-rate must be between 0 and 1")
        }
        guard outputTokens >= 1 else { throw ValidationError("--output-tokens must be at least 1") }
    }

    func run() async throws {
        var behavior = DemoModelBehavior(
            version: version,
            errorRate: errorRate,
            latencyMillis: latencyMs,
            jitterMillis: jitterMs,
            streamChunks: streamChunks,
            streamIntervalMillis: streamIntervalMs
        )
        behavior.ttftMillis = ttftMs
        behavior.tpotMillis = tpotMs
        behavior.outputTokens = outputTokens
        behavior.lengthRate = lengthRate
        behavior.streamCutRate = streamCutRate
        behavior.seededOutputs = seededOutputs
        behavior.flipRate = flipRate
        behavior.scoreShift = scoreShift
        behavior.labelNoise = labelNoise
        let server = try await DemoModelServer.start(behavior: behavior, host: host, port: port)
        print(
            "weir-demo-model \(version) listening on \(host):\(server.port) (error rate \(errorRate), latency \(latencyMs) ms)"
        )
        try await server.wait()
    }
}
