import WeirAdmin
import WeirAdminModels
import WeirConfig
import WeirCore
import WeirProxy

/// The admin API's view of the running router: reads go to the rollout controller and the store,
/// commands go through the controller's state machines, reload re-reads the config file.
struct AdminBridge: AdminOperations {
    let controller: RolloutController
    let store: any RolloutStore
    let configPath: String?
    let exporter: PrometheusExporter
    let webhooks: WebhookNotifier
    let proxy: ProxyServer

    func routes() async -> [RouteStatusModel] {
        await controller.views().map(RouteStatusModel.init)
    }

    func route(named name: String) async -> RouteStatusModel? {
        await controller.views().first { $0.route.name == name }.map(RouteStatusModel.init)
    }

    func events(route: String, limit: Int) async throws -> [EventModel]? {
        guard await controller.status(of: route) != nil else { return nil }
        return try store.events(route: route, limit: limit).map(EventModel.init)
    }

    func command(_ command: RolloutCommand, route: String) async throws -> Result<CommandResultModel, RolloutRefusal> {
        switch try await controller.handle(command, route: route) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let event):
            guard let view = await self.route(named: route) else {
                return .failure(RolloutRefusal(code: "not_found", message: "no route named \(route)"))
            }
            return .success(CommandResultModel(event: EventModel(event), route: view))
        }
    }

    func reload() async -> Result<Int, ReloadRefusal> {
        guard let configPath else {
            return .failure(ReloadRefusal(errors: ["weir was started without a config file to re-read"]))
        }
        do {
            let config = try ConfigLoader.load(path: configPath)
            try await controller.load(config.routes)
            return .success(config.routes.count)
        } catch let errors as ConfigErrors {
            return .failure(ReloadRefusal(errors: errors.errors.map(\.description)))
        } catch {
            return .failure(ReloadRefusal(errors: ["\(error)"]))
        }
    }

    func metricsText() async -> String {
        exporter.setRollouts(await controller.views())
        exporter.setWebhookCounts(webhooks.deliveryCounts)
        exporter.setUpstreamConnections(await proxy.upstreamConnections())
        return exporter.text()
    }

    func isReady() async -> Bool { true }
}
