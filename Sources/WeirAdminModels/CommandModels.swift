/// `POST /v1/routes/NAME/promote`
public struct PromoteRequest: Codable, Sendable, Hashable {
    public var full: Bool?
    public init(full: Bool?) { self.full = full }
}

/// `POST /v1/routes/NAME/rollback`
public struct RollbackRequest: Codable, Sendable, Hashable {
    public var reason: String?
    public init(reason: String?) { self.reason = reason }
}

/// `POST /v1/routes/NAME/weight`
public struct WeightRequest: Codable, Sendable, Hashable {
    public var canary: Double
    public init(canary: Double) { self.canary = canary }
}

/// The answer to every accepted command: the event it produced and the route after it.
public struct CommandResultModel: Codable, Sendable, Hashable {
    public var event: EventModel
    public var route: RouteStatusModel
    public init(event: EventModel, route: RouteStatusModel) {
        self.event = event
        self.route = route
    }
}

/// `POST /v1/reload`
public struct ReloadResultModel: Codable, Sendable, Hashable {
    public var routes: Int
    public init(routes: Int) { self.routes = routes }
}

/// Every error the admin API returns: a stable code and a sentence for people.
public struct ErrorModel: Codable, Sendable, Hashable, Error {
    public var error: String
    public var message: String
    /// Further detail, e.g. every config error of a refused reload.
    public var details: [String]?

    public init(error: String, message: String, details: [String]? = nil) {
        self.error = error
        self.message = message
        self.details = details
    }
}
