import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import WeirAdmin
import WeirConfig
import WeirCore
import WeirProxy
import WeirStore

/// Wires a validated config into running services — the data plane, the measurement collector, the
/// rollout controller and the admin API — under one `ServiceGroup` that shuts down gracefully on
/// SIGTERM or SIGINT.
public struct WeirApplication: Sendable {
    public let config: WeirConfiguration
    /// The file the config came from, for `POST /v1/reload`.
    public let configPath: String?
    public let logger: Logger

    public init(config: WeirConfiguration, configPath: String?, logger: Logger) {
        self.config = config
        self.configPath = configPath
        self.logger = logger
    }

    /// Seconds of per-second history each series keeps: the longest interval plus its warm-up,
    /// and at least five minutes for operators' views.
    var historySeconds: Int {
        let longest = config.routes.map { $0.policy.interval + $0.policy.warmup }.max() ?? .zero
        return max(300, Int(longest.components.seconds) + 2)
    }

    /// Opens the configured rollout store. A store that cannot be opened stops startup.
    func openStore() throws -> any RolloutStore {
        switch config.state {
        case .sqlite(let path):
            return try SQLiteRolloutStore(path: path)
        case .postgres:
            throw StartupError(
                message: "state.postgres (fleet mode) is not available in this build of weir yet; use state.sqlite")
        }
    }

    /// The admin token from `admin.token_file` (relative to the config file) or `WEIR_ADMIN_TOKEN`.
    func adminToken() throws -> BearerToken? {
        if let file = config.admin.tokenFile {
            let base =
                configPath.map { URL(fileURLWithPath: $0).deletingLastPathComponent() } ?? URL(fileURLWithPath: ".")
            let url = file.hasPrefix("/") ? URL(fileURLWithPath: file) : base.appendingPathComponent(file)
            guard let text = try? String(contentsOf: url, encoding: .utf8), let token = BearerToken(text) else {
                throw StartupError(message: "cannot read a token from admin.token_file \(url.path)")
            }
            return token
        }
        if let text = ProcessInfo.processInfo.environment["WEIR_ADMIN_TOKEN"], let token = BearerToken(text) {
            return token
        }
        return nil
    }

    /// What the data-plane listener speaks, with its TLS context loaded from `server.tls`.
    func listenerProtocols() throws -> ListenerProtocols {
        var protocols = ListenerProtocols(h2c: config.server.h2c)
        if let tls = config.server.tls {
            do {
                protocols.tls = try TLSContexts.server(
                    certificateFile: tls.certificateFile, keyFile: tls.keyFile, clientCAFile: tls.clientCAFile)
            } catch {
                throw StartupError(
                    message: "cannot load server.tls (cert \(tls.certificateFile), key \(tls.keyFile)): \(error)")
            }
        }
        return protocols
    }

    /// Runs until SIGTERM/SIGINT. The callbacks receive the bound ports of the data plane and the
    /// admin API.
    public func run(
        signals: [UnixSignal] = [.sigterm, .sigint],
        onListening: @escaping @Sendable (Int) -> Void = { _ in },
        onAdminListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let store = try openStore()
        let token = try adminToken()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.server.threads ?? System.coreCount)
        let measurements = Measurements(capacitySeconds: historySeconds)
        let accessLog = config.server.accessLog ? AccessLog() : nil
        defer { accessLog?.flush() }
        var limits = ConnectionLimits(
            idleTimeout: config.server.idleTimeout, maxConnections: config.server.maxConnections,
            maxHeaderBytes: config.server.maxHeaderBytes, maxHeaderCount: config.server.maxHeaders,
            accessLog: accessLog
        )
        limits.clientBodyTimeout = config.server.clientBodyTimeout
        limits.trustedProxies = config.server.trustedProxies
        let proxy = try await ProxyServer(
            group: group, measurements: measurements,
            limits: limits,
            // Benchmark-only: `make bench` prices the per-request measurement with it off.
            measuring: ProcessInfo.processInfo.environment["WEIR_MEASUREMENT"] != "off"
        )
        let protocols = try listenerProtocols()
        let exporter = PrometheusExporter()
        measurements.observe { exporter.consume($0) }
        let webhooks = WebhookNotifier(logger: logger)
        let logger = self.logger
        let writer = RolloutStoreWriter(store: store) { health in
            if health.up {
                logger.notice("the rollout store is writable again; waiting events are being written")
            } else {
                logger.error(
                    "the rollout store is failing: rollbacks and pauses still take effect and are written when it recovers; moves toward a canary wait",
                    metadata: ["error": "\(health.error ?? "")", "pending_events": "\(health.pendingEvents)"])
            }
        }
        let controller = RolloutController(
            proxy: proxy, store: store, writer: writer, webhooks: webhooks, logger: logger, exporter: exporter)
        try await controller.load(config.routes)
        let bridge = AdminBridge(
            controller: controller, store: store, writer: writer, configPath: configPath, exporter: exporter,
            webhooks: webhooks, proxy: proxy)
        let services: [any Service] = [
            ProxyService(
                proxy: proxy,
                host: config.server.listen.host,
                port: config.server.listen.port,
                protocols: protocols,
                drainTimeout: config.server.drainTimeout,
                logger: logger,
                onListening: onListening
            ),
            PeriodicService(period: .seconds(1)) { await proxy.collect() },
            PeriodicService(period: .milliseconds(250)) { await controller.tick() },
            PeriodicService(period: .seconds(2)) { writer.probe() },
            HangupReloadService(operations: bridge, logger: logger),
            AdminService(
                operations: bridge,
                host: config.admin.listen.host,
                port: config.admin.listen.port,
                token: token,
                logger: logger,
                onListening: onAdminListening
            ),
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
        if await !writer.flush(timeout: .seconds(5)) {
            logger.error(
                "stopping with rollout events the store did not take; the routes resume from the last stored state",
                metadata: ["pending_events": "\(writer.health.pendingEvents)"])
        }
        try await group.shutdownGracefully()
    }
}

/// Weir cannot start with this config on this machine; says why.
public struct StartupError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
