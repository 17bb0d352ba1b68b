/// One route as the admin API reports it (`GET /v1/routes/NAME`) and `weirctl status` prints it.
public struct RouteStatusModel: Codable, Sendable, Hashable {
    public var name: String
    public var state: String
    /// The step index (0-based), as in `step 0 -> 1` reasons.
    public var step: Int
    public var steps: Int
    /// The canary weight of each step, in percent.
    public var stepWeights: [Double]
    public var stable: String
    public var canary: String?
    public var weights: [String: Double]
    public var versions: [String: VersionStatusModel]
    /// Seconds the current window covers (for rates).
    public var windowSeconds: Double
    public var lastVerdict: VerdictModel?
    public var lastEvent: EventModel?
    /// Fleet mode: why this instance leaves the route's rollout alone (instances' configs disagree).
    public var disagreement: String?
    /// The route's shadow comparisons, when it has a shadow.
    public var shadow: ShadowStatusModel?

    public init(
        name: String, state: String, step: Int, steps: Int, stepWeights: [Double], stable: String, canary: String?,
        weights: [String: Double],
        versions: [String: VersionStatusModel], windowSeconds: Double, lastVerdict: VerdictModel?,
        lastEvent: EventModel?
    ) {
        self.name = name
        self.state = state
        self.step = step
        self.steps = steps
        self.stepWeights = stepWeights
        self.stable = stable
        self.canary = canary
        self.weights = weights
        self.versions = versions
        self.windowSeconds = windowSeconds
        self.lastVerdict = lastVerdict
        self.lastEvent = lastEvent
    }

    enum CodingKeys: String, CodingKey {
        case name, state, step, steps, stable, canary, weights, versions
        case windowSeconds = "window_seconds"
        case stepWeights = "step_weights"
        case lastVerdict = "last_verdict"
        case lastEvent = "last_event"
        case disagreement, shadow
    }
}

/// One version's numbers over the current analysis window.
public struct VersionStatusModel: Codable, Sendable, Hashable {
    public var requests: UInt64
    public var errors: UInt64
    public var errorRate: Double
    /// Requests per second over the window.
    public var rps: Double
    public var latencyMs: LatencyModel
    public var ttfbMs: LatencyModel
    public var metadata: [String: String]
    /// Requests pinned to this version by an override in the same window: shown, never judged.
    public var pinned: PinnedTrafficModel?
    /// LLM measurements over the window, when the version served LLM responses.
    public var llm: LLMStatusModel?

    public init(
        requests: UInt64, errors: UInt64, errorRate: Double, rps: Double, latencyMs: LatencyModel, ttfbMs: LatencyModel,
        metadata: [String: String], pinned: PinnedTrafficModel? = nil
    ) {
        self.pinned = pinned
        self.requests = requests
        self.errors = errors
        self.errorRate = errorRate
        self.rps = rps
        self.latencyMs = latencyMs
        self.ttfbMs = ttfbMs
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case requests, errors, rps, metadata, pinned, llm
        case errorRate = "error_rate"
        case latencyMs = "latency_ms"
        case ttfbMs = "ttfb_ms"
    }
}

/// One version's LLM answers over the window (CONTRACT §10): time to first token, time per output
/// token, tokens and why the answers stopped.
public struct LLMStatusModel: Codable, Sendable, Hashable {
    /// Answers measured.
    public var responses: UInt64
    public var ttftMs: LatencyModel
    public var tpotMs: LatencyModel
    public var outputTokens: UInt64
    public var inputTokens: UInt64
    public var outputTokensMean: Double
    /// Output tokens per second of answer time; nil with none.
    public var tokensPerSecond: Double?
    /// Answers by `finish_reason` (`stop`, `length`, `content_filter`, `tool_calls`, `other`, `none`).
    public var finishReasons: [String: UInt64]
    public var streamErrors: UInt64

    public init(
        responses: UInt64, ttftMs: LatencyModel, tpotMs: LatencyModel, outputTokens: UInt64, inputTokens: UInt64,
        outputTokensMean: Double, tokensPerSecond: Double?, finishReasons: [String: UInt64], streamErrors: UInt64
    ) {
        self.responses = responses
        self.ttftMs = ttftMs
        self.tpotMs = tpotMs
        self.outputTokens = outputTokens
        self.inputTokens = inputTokens
        self.outputTokensMean = outputTokensMean
        self.tokensPerSecond = tokensPerSecond
        self.finishReasons = finishReasons
        self.streamErrors = streamErrors
    }

    enum CodingKeys: String, CodingKey {
        case responses
        case ttftMs = "ttft_ms"
        case tpotMs = "tpot_ms"
        case outputTokens = "output_tokens"
        case inputTokens = "input_tokens"
        case outputTokensMean = "output_tokens_mean"
        case tokensPerSecond = "tokens_per_second"
        case finishReasons = "finish_reasons"
        case streamErrors = "stream_errors"
    }
}

/// Pinned requests of one version over the window: kept apart from the weighted traffic so an
/// operator sees them while no verdict, window or judge reads them.
public struct PinnedTrafficModel: Codable, Sendable, Hashable {
    public var requests: UInt64
    public var errors: UInt64

    public init(requests: UInt64, errors: UInt64) {
        self.requests = requests
        self.errors = errors
    }
}

/// Latency percentiles in milliseconds; nil when the window has no requests.
public struct LatencyModel: Codable, Sendable, Hashable {
    public var p50: Double?
    public var p95: Double?
    public var p99: Double?

    public init(p50: Double?, p95: Double?, p99: Double?) {
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
    }
}

/// The last window's verdict.
public struct VerdictModel: Codable, Sendable, Hashable {
    public var result: String
    public var reason: String

    public init(result: String, reason: String) {
        self.result = result
        self.reason = reason
    }
}

/// `GET /v1/routes`
public struct RoutesModel: Codable, Sendable, Hashable {
    public var routes: [RouteStatusModel]
    /// The rollout store's health; absent from routers that do not report it.
    public var store: StoreHealthModel?
    /// Fleet mode: every instance on the fleet's database (absent for one instance).
    public var instances: [InstanceModel]?
    public init(routes: [RouteStatusModel], store: StoreHealthModel? = nil, instances: [InstanceModel]? = nil) {
        self.routes = routes
        self.store = store
        self.instances = instances
    }
}

/// One weir instance of a fleet (CONTRACT §9): where its admin API is, when it was last heard
/// from, and whether it is the one that judges.
public struct InstanceModel: Codable, Sendable, Hashable {
    public var id: String
    public var address: String
    /// Its last heartbeat (RFC 3339, the database's clock).
    public var lastSeen: String
    public var judge: Bool
    /// Heard from within the last 5 s; others are left out of the fleet's figures.
    public var alive: Bool
    /// Whether this is the instance that answered.
    public var this: Bool

    public init(id: String, address: String, lastSeen: String, judge: Bool, alive: Bool, this: Bool) {
        self.id = id
        self.address = address
        self.lastSeen = lastSeen
        self.judge = judge
        self.alive = alive
        self.this = this
    }

    enum CodingKeys: String, CodingKey {
        case id, address, judge, alive, this
        case lastSeen = "last_seen"
    }
}

/// The rollout store's health: while it is down, rollbacks and pauses still take effect (and
/// wait in memory to be written), and moves toward a canary are refused.
public struct StoreHealthModel: Codable, Sendable, Hashable {
    public var up: Bool
    public var error: String?
    /// Events in force that are not on disk yet.
    public var pendingEvents: Int
    /// When the store began failing (RFC 3339).
    public var downSince: String?

    public init(up: Bool, error: String?, pendingEvents: Int, downSince: String?) {
        self.up = up
        self.error = error
        self.pendingEvents = pendingEvents
        self.downSince = downSince
    }

    enum CodingKeys: String, CodingKey {
        case up, error
        case pendingEvents = "pending_events"
        case downSince = "down_since"
    }
}

/// `GET /readyz`: `ready`, or `degraded` while the store fails — weir still serves traffic then,
/// so the answer stays 200 and a load balancer keeps sending it requests.
public struct ReadinessModel: Codable, Sendable, Hashable {
    public var status: String
    public var store: StoreHealthModel

    public init(_ store: StoreHealthModel) {
        self.status = store.up && store.pendingEvents == 0 ? "ready" : "degraded"
        self.store = store
    }
}
