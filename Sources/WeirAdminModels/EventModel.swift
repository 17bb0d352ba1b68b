/// One audit-log entry as the admin API reports it.
public struct EventModel: Codable, Sendable, Hashable {
    /// RFC 3339 UTC time.
    public var at: String
    public var route: String
    public var from: String
    public var to: String
    public var fromStep: Int
    public var toStep: Int
    public var weights: [String: Double]
    public var actor: String
    public var reason: String
    public var kind: String

    public init(
        at: String, route: String, from: String, to: String, fromStep: Int, toStep: Int, weights: [String: Double],
        actor: String, reason: String, kind: String
    ) {
        self.at = at
        self.route = route
        self.from = from
        self.to = to
        self.fromStep = fromStep
        self.toStep = toStep
        self.weights = weights
        self.actor = actor
        self.reason = reason
        self.kind = kind
    }

    enum CodingKeys: String, CodingKey {
        case at, route, from, to, weights, actor, reason, kind
        case fromStep = "from_step"
        case toStep = "to_step"
    }
}

/// `GET /v1/routes/NAME/events`
public struct EventsModel: Codable, Sendable, Hashable {
    public var events: [EventModel]
    public init(events: [EventModel]) { self.events = events }
}
