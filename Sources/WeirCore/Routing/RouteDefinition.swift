/// One model version behind a route: the servers that run it and free-form metadata shown to operators.
public struct VersionDefinition: Sendable, Hashable {
    public var name: String
    public var upstreams: [UpstreamAddress]
    public var metadata: [String: String]

    public init(name: String, upstreams: [UpstreamAddress], metadata: [String: String] = [:]) {
        self.name = name
        self.upstreams = upstreams
        self.metadata = metadata
    }
}

/// Where a sticky routing key is read from.
public enum StickyKeySource: Sendable, Hashable {
    /// A request header, name lowercased.
    case header(String)
    /// A cookie by name.
    case cookie(String)
}

/// A route as compiled from the config: immutable, validated, ready for the data plane and the
/// rollout engine. Nothing downstream re-validates it.
public struct RouteDefinition: Sendable, Hashable {
    public var name: String
    public var match: RouteMatch
    /// Whole-request timeout per try.
    public var timeout: Duration
    /// The versions in config order; indices into this array identify versions everywhere.
    public var versions: [VersionDefinition]
    public var stableIndex: Int
    public var canaryIndex: Int?
    public var sticky: StickyKeySource?
    /// Who may pin a request to a version by header; nil = nobody (the header is stripped).
    public var override: OverrideRule?
    public var policy: RolloutPolicy
    /// Passive outlier ejection of this route's upstreams.
    public var ejection: OutlierDetector.Settings = OutlierDetector.Settings()
    /// PEM file of the certificate authorities trusted for this route's `https://` upstreams; nil
    /// trusts the system's roots.
    public var upstreamCAFile: String?
    /// Versions and suites offered to this route's `https://` upstreams (default: intermediate).
    public var upstreamTLS = TLSPolicy.intermediate
    /// Bounds on connections, waiting and in-flight requests per upstream.
    public var circuitBreakers = CircuitBreakers()
    /// The LLM API the route serves (`llm:`): every response is measured for tokens. nil: only
    /// SSE responses that look like OpenAI chunks are.
    public var llm: LLMAPI?
    /// Copies of this route's requests to a shadow version, whose answers are compared and never sent.
    public var shadow: ShadowSettings?

    public init(
        name: String,
        match: RouteMatch,
        timeout: Duration,
        versions: [VersionDefinition],
        stableIndex: Int,
        canaryIndex: Int?,
        sticky: StickyKeySource?,
        override: OverrideRule? = nil,
        policy: RolloutPolicy
    ) {
        self.name = name
        self.match = match
        self.timeout = timeout
        self.versions = versions
        self.stableIndex = stableIndex
        self.canaryIndex = canaryIndex
        self.sticky = sticky
        self.override = override
        self.policy = policy
    }

    /// Request headers weir consumes for pinning and never forwards, whether the route takes an
    /// override or not: the default pin and secret names and the route's own.
    public var pinHeaders: [String] {
        var names = [OverrideRule.defaultHeader, OverrideRule.defaultSecretHeader]
        for name in [override?.header, override?.secretHeader].compactMap({ $0 }) where !names.contains(name) {
            names.append(name)
        }
        return names
    }

    /// The client TLS set-up of this route's `https://` upstreams: routes with the same CA file
    /// and policy share one context (and one pool per upstream).
    public var upstreamTLSKey: UpstreamTLSKey { UpstreamTLSKey(caFile: upstreamCAFile, policy: upstreamTLS) }

    /// The index of the version with this name, if configured.
    public func versionIndex(named name: String) -> Int? {
        versions.firstIndex { $0.name == name }
    }
}

/// What identifies a client TLS context toward `https://` upstreams: trusted authorities and policy.
public struct UpstreamTLSKey: Sendable, Hashable {
    public var caFile: String?
    public var policy: TLSPolicy
}
