import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import WeirConfig
import WeirCore
import WeirProxy

/// Wires a validated config into running services — the data plane, the measurement collector and
/// the rollout controller — under one `ServiceGroup` that shuts down gracefully on SIGTERM or SIGINT.
public struct WeirApplication: Sendable {
    public let config: WeirConfiguration
    public let logger: Logger
    /// Where rollout state and events go; in memory until the durable store is configured.
    public let store: any RolloutStore

    public init(config: WeirConfiguration, logger: Logger, store: any RolloutStore = InMemoryRolloutStore()) {
        self.config = config
        self.logger = logger
        self.store = store
    }

    /// Seconds of per-second history each series keeps: the longest interval plus its warm-up,
    /// and at least five minutes for operators' views.
    var historySeconds: Int {
        let longest = config.routes.map { $0.policy.interval + $0.policy.warmup }.max() ?? .zero
        return max(300, Int(longest.components.seconds) + 2)
    }

    /// Runs until SIGTERM/SIGINT. `onListening` receives the data plane's bound port.
    public func run(
        signals: [UnixSignal] = [.sigterm, .sigint],
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let measurements = Measurements(capacitySeconds: historySeconds)
        let proxy = try await ProxyServer(group: group, measurements: measurements)
        let controller = RolloutController(proxy: proxy, store: store, webhooks: WebhookNotifier(logger: logger), logger: logger)
        try await controller.load(config.routes)
        let services: [any Service] = [
            ProxyService(
                proxy: proxy,
                host: config.server.listen.host,
                port: config.server.listen.port,
                drainTimeout: config.server.drainTimeout,
                logger: logger,
                onListening: onListening
            ),
            MeasurementCollector(proxy: proxy, period: .seconds(1)),
            RolloutControllerService(controller: controller, period: .milliseconds(250)),
        ]
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: signals,
                logger: logger
            )
        )
        do {
            try await serviceGroup.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }
}
