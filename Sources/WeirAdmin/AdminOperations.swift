import WeirAdminModels
import WeirCore

/// What the admin API can ask of the running router. The app implements it over the rollout
/// controller, the store and the config file; tests can implement it over anything.
public protocol AdminOperations: Sendable {
    func routes() async -> RoutesModel
    func route(named name: String) async -> RouteStatusModel?
    /// A route's audit log, newest first; nil when there is no such route.
    func events(route: String, limit: Int) async throws -> [EventModel]?
    /// A route's per-second history after unix second `since` (all of it with nil); nil when
    /// there is no such route.
    func series(route: String, since: Int64?) async -> SeriesModel?
    /// A route's latest disagreeing shadow pairs, newest first; nil when there is no such route.
    func shadowDiff(route: String, limit: Int) async -> ShadowDiffModel?
    /// Applies an operator's command; a refusal says why (code `not_found` for an unknown route).
    func command(_ command: RolloutCommand, route: String) async throws -> Result<CommandResultModel, RolloutRefusal>
    /// Re-reads the config: the new route count, or every error of a refused config.
    func reload() async -> Result<Int, ReloadRefusal>
    /// The Prometheus text exposition of every metric.
    func metricsText() async -> String
    /// Whether weir serves (it does once the config is loaded) and how its store is.
    func readiness() async -> ReadinessModel
}

/// Every error of a config that `reload` refused.
public struct ReloadRefusal: Error, Sendable {
    public var errors: [String]
    public init(errors: [String]) { self.errors = errors }
}
