/// `GET /v1/routes/NAME/series?since=UNIX_SECONDS`: a route's per-second history (the last
/// fifteen minutes at most), what the dashboard charts. Ask again with `since` set to `through`
/// for the seconds that came after.
public struct SeriesModel: Codable, Sendable, Hashable {
    public var route: String
    /// The sequential judge's rollback line, 1/α; absent under the threshold judge.
    public var eValueThreshold: Double?
    /// The newest second in `points`, or the `since` asked for when there is none yet.
    public var through: Int64?
    public var points: [SeriesPointModel]

    public init(route: String, eValueThreshold: Double?, through: Int64?, points: [SeriesPointModel]) {
        self.route = route
        self.eValueThreshold = eValueThreshold
        self.through = through
        self.points = points
    }

    enum CodingKeys: String, CodingKey {
        case route, through, points
        case eValueThreshold = "e_value_threshold"
    }
}

/// One whole second of a route.
public struct SeriesPointModel: Codable, Sendable, Hashable {
    /// Unix time of the second's start.
    public var second: Int64
    public var versions: [String: SeriesVersionModel]
    /// The sequential judge's e-value after this second.
    public var eValue: Double?

    public init(second: Int64, versions: [String: SeriesVersionModel], eValue: Double?) {
        self.second = second
        self.versions = versions
        self.eValue = eValue
    }

    enum CodingKeys: String, CodingKey {
        case second, versions
        case eValue = "e_value"
    }
}

/// One version's second: requests (so requests per second), errors the policy counts, latency
/// percentiles in milliseconds (absent without requests) and its weight in percent.
public struct SeriesVersionModel: Codable, Sendable, Hashable {
    public var requests: UInt64
    public var errors: UInt64
    public var p50Ms: Double?
    public var p99Ms: Double?
    public var weight: Double

    public init(requests: UInt64, errors: UInt64, p50Ms: Double?, p99Ms: Double?, weight: Double) {
        self.requests = requests
        self.errors = errors
        self.p50Ms = p50Ms
        self.p99Ms = p99Ms
        self.weight = weight
    }

    enum CodingKeys: String, CodingKey {
        case requests, errors, weight
        case p50Ms = "p50_ms"
        case p99Ms = "p99_ms"
    }
}
