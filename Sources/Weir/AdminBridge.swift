import WeirAdmin
import WeirAdminModels
import WeirConfig
import WeirCore
import WeirProxy
import WeirFleet
import WeirStore

/// The admin API's view of the running router: reads go to the rollout controller and the store,
/// commands go through the controller's state machines, reload re-reads the config file.
struct AdminBridge: AdminOperations {
    let controller: RolloutController
    let writer: RolloutStoreWriter
    let configPath: String?
    let exporter: PrometheusExporter
    let webhooks: WebhookNotifier
    let proxy: ProxyServer

    func routes() async -> RoutesModel {
        RoutesModel(
            routes: await controller.views().map(status), store: StoreHealthModel(writer.health),
            instances: await fleetInstances())
    }

    /// The fleet's instances as this one last saw them; nil alone.
    private func fleetInstances() async -> [InstanceModel]? {
        guard let fleet = await controller.fleetMembership else { return nil }
        return fleet.instances.map {
            InstanceModel(
                id: $0.id, address: $0.address, lastSeen: EventModel.timestamp($0.lastSeenUnixMillis), judge: $0.judge,
                alive: $0.alive, this: $0.id == fleet.instance)
        }
    }

    func route(named name: String) async -> RouteStatusModel? {
        await controller.views().first { $0.route.name == name }.map(status)
    }

    /// A route's status with its shadow's comparisons.
    private func status(_ view: RolloutController.RouteView) -> RouteStatusModel {
        var model = RouteStatusModel(view)
        if let settings = view.route.shadow {
            model.shadow = ShadowStatusModel(
                proxy.measurements.shadows.tally(route: view.route.name) ?? ShadowTally(),
                version: view.route.versions[settings.versionIndex].name)
        }
        return model
    }

    func shadowDiff(route: String, limit: Int) async -> ShadowDiffModel? {
        guard await controller.status(of: route) != nil else { return nil }
        let pairs = proxy.measurements.shadows.disagreements(route: route, limit: limit).map {
            DisagreementModel(
                at: EventModel.timestamp($0.at), request: $0.request, stable: $0.stable, shadow: $0.shadow, detail: $0.detail)
        }
        return ShadowDiffModel(route: route, pairs: pairs)
    }

    func events(route: String, limit: Int) async throws -> [EventModel]? {
        guard await controller.status(of: route) != nil else { return nil }
        // Events in force but not yet on disk come first: they are the newest.
        let waiting = writer.pendingEvents(route: route).prefix(limit)
        let stored: [RolloutEvent]
        do {
            stored = try await writer.read { try $0.events(route: route, limit: limit - waiting.count) }
        } catch {
            throw StoreUnavailable("cannot read the audit log from the rollout store (\(error))")
        }
        // An event written between the two reads shows once.
        return (waiting + stored.filter { !waiting.contains($0) }).map(EventModel.init)
    }

    func series(route: String, since: Int64?) async -> SeriesModel? {
        guard let found = await controller.series(of: route, after: since) else { return nil }
        let points = found.points.map(SeriesPointModel.init)
        return SeriesModel(
            route: route, eValueThreshold: found.threshold, through: points.last?.second ?? since, points: points)
    }

    func command(_ command: RolloutCommand, route: String) async throws -> Result<CommandResultModel, RolloutRefusal> {
        switch await controller.handle(command, route: route) {
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
        exporter.setStoreHealth(writer.health)
        for view in await controller.views() where view.route.shadow != nil {
            if let tally = proxy.measurements.shadows.tally(route: view.route.name) {
                exporter.setShadow(route: view.route.name, tally)
            }
        }
        if let fleet = await controller.fleetMembership {
            exporter.setFleet(liveInstances: fleet.instances.filter(\.alive).count, judging: fleet.judging)
        }
        return exporter.text()
    }

    func readiness() async -> ReadinessModel {
        ReadinessModel(StoreHealthModel(writer.health))
    }
}

extension StoreHealthModel {
    init(_ health: RolloutStoreWriter.Health) {
        self.init(
            up: health.up, error: health.error, pendingEvents: health.pendingEvents,
            downSince: health.downSinceUnixMillis.map(EventModel.timestamp))
    }
}
