import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import UnixSignals
import WeirAdmin
import WeirConfig
import WeirCore
import WeirFleet
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

    /// Seconds of per-second history each series keeps: what the most demanding policy needs.
    var historySeconds: Int {
        config.routes.map(\.policy.historySeconds).max() ?? 300
    }

    /// Opens the configured rollout store. A store that cannot be opened stops startup.
    func openStore() async throws -> any RolloutStore {
        switch config.state {
        case .sqlite(let path):
            return try SQLiteRolloutStore(path: path)
        case .postgres(let settings):
            return try await openFleetStore(settings)
        }
    }

    /// Fleet mode: connects to the fleet's database and brings its schema up to date, waiting up
    /// to 15 s for a database that is still starting.
    func openFleetStore(_ settings: PostgresSettings) async throws -> PostgresRolloutStore {
        let url: PostgresURL
        switch settings.resolvedURL(environment: ProcessInfo.processInfo.environment) {
        case .success(let resolved): url = resolved
        case .failure(let problem): throw StartupError(message: "cannot use state.postgres: \(problem)")
        }
        let password = settings.password ?? ProcessInfo.processInfo.environment["WEIR_POSTGRES_PASSWORD"]
        let database = try PostgresDatabase(url: url, password: password, logger: logger)
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            do {
                let applied = try await database.migrate()
                logger.notice(
                    "fleet mode: rollout state in PostgreSQL",
                    metadata: ["database": "\(url.display)", "migrations": "\(applied.count)", "instance": "\(instanceName(settings))"])
                return PostgresRolloutStore(database: database, instance: instanceName(settings))
            } catch {
                guard ContinuousClock.now < deadline else {
                    throw StartupError(message: "cannot use the fleet's database \(url.display): \(String(reflecting: error))")
                }
                logger.warning("the fleet's database does not answer yet; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// This instance's name in the fleet: `state.instance`, else the host name and admin port.
    func instanceName(_ settings: PostgresSettings) -> String {
        settings.instance ?? "\(ProcessInfo.processInfo.hostName)-\(config.admin.listen.port)"
    }

    /// Where other people reach this instance's admin API (shown in the fleet's status).
    func adminAddress(port: Int) -> String {
        let host = config.admin.listen.host
        let shown = host == "0.0.0.0" || host == "::" ? ProcessInfo.processInfo.hostName : host
        return "\(shown):\(port)"
    }

    /// Where safe moves that wait for the store are kept across a restart: beside the SQLite file.
    var storeJournalPath: String? {
        if case .sqlite(let path) = config.state { return path + ".pending.json" }
        return nil
    }

    /// Who may do what on the admin listener: the tokens `ConfigLoader` read from
    /// `admin.token_file` (else `WEIR_ADMIN_TOKEN`) and `admin.read_token_file`, and the host
    /// names it answers to.
    func adminAccess() throws -> AdminAccess {
        func token(_ file: String?, _ text: String?, _ key: String) throws -> BearerToken? {
            guard let file else { return nil }
            // A config that named a file but was not loaded from disk never runs without its token.
            guard let token = text.flatMap(BearerToken.init) else {
                throw StartupError(message: "\(key) \(file) was not read or holds no token")
            }
            return token
        }
        let adminToken =
            try token(config.admin.tokenFile, config.admin.token, "admin.token_file")
            ?? ProcessInfo.processInfo.environment["WEIR_ADMIN_TOKEN"].flatMap { BearerToken($0) }
        let readToken = try token(config.admin.readTokenFile, config.admin.readToken, "admin.read_token_file")
        return AdminAccess(
            adminToken: adminToken, readToken: readToken,
            allowedHosts: config.admin.allowedHosts, scheme: config.admin.tls == nil ? "http" : "https")
    }

    /// The admin listener's TLS settings for Hummingbird, from `admin.tls`.
    func adminTLS() throws -> TLSConfiguration? {
        guard let tls = config.admin.tls else { return nil }
        do {
            return try TLSContexts.serverConfiguration(
                certificateFile: tls.certificateFile, keyFile: tls.keyFile, clientCAFile: tls.clientCAFile,
                policy: tls.policy, applicationProtocols: ["http/1.1"])
        } catch {
            throw StartupError(
                message: "cannot load admin.tls (cert \(tls.certificateFile), key \(tls.keyFile)): \(error)")
        }
    }

    /// What the data-plane listener speaks, with its TLS context loaded from `server.tls`.
    func listenerProtocols() throws -> ListenerProtocols {
        var protocols = ListenerProtocols(h2c: config.server.h2c)
        if let tls = config.server.tls {
            do {
                protocols.tls = try NIOSSLContext(
                    configuration: TLSContexts.serverConfiguration(
                        certificateFile: tls.certificateFile, keyFile: tls.keyFile, clientCAFile: tls.clientCAFile,
                        policy: tls.policy))
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
        for warning in config.warnings { logger.warning("\(warning)") }
        let store = try await openStore()
        let access = try adminAccess()
        let adminTLS = try adminTLS()
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
        let journal = storeJournalPath
        if let journal {
            do {
                let replayed = try RolloutStoreWriter.replayJournal(at: journal, into: store)
                if replayed > 0 {
                    logger.notice(
                        "rollout events the store had not taken before the last stop are stored now",
                        metadata: ["events": "\(replayed)", "journal": "\(journal)"])
                }
            } catch {
                throw StartupError(message: "cannot replay the waiting rollout events of \(journal): \(error)")
            }
        }
        let writer = RolloutStoreWriter(store: store, journalPath: journal) { health in
            if health.up {
                logger.notice("the rollout store is writable again; waiting events are being written")
            } else {
                logger.error(
                    "the rollout store is failing: rollbacks and pauses still take effect and are written when it recovers; moves toward a canary wait",
                    metadata: ["error": "\(health.error ?? "")", "pending_events": "\(health.pendingEvents)"])
            }
        }
        let fleetStore = store as? PostgresRolloutStore
        let fleetMeasurements = fleetStore.map { _ in Measurements(capacitySeconds: historySeconds) }
        let controller = RolloutController(
            proxy: proxy, writer: writer, webhooks: webhooks, logger: logger, exporter: exporter,
            fleet: fleetStore.flatMap { store in
                fleetMeasurements.map { FleetView(instance: store.instance, measurements: $0) }
            })
        var coordinator: FleetCoordinator?
        if let fleetStore, let fleetMeasurements {
            let joined = FleetCoordinator(
                controller: controller, proxy: proxy, store: fleetStore,
                directory: FleetDirectory(database: fleetStore.database, retentionSeconds: Int64(historySeconds) + 60),
                session: FleetSession(database: fleetStore.database),
                address: adminAddress(port: config.admin.listen.port), fleetMeasurements: fleetMeasurements,
                historySeconds: historySeconds, logger: logger)
            do {
                try await joined.join(routes: config.routes)
            } catch {
                throw StartupError(message: "cannot join the fleet: \(error)")
            }
            coordinator = joined
        }
        try await controller.load(config.routes)
        let bridge = AdminBridge(
            controller: controller, writer: writer, configPath: configPath, exporter: exporter,
            webhooks: webhooks, proxy: proxy)
        var services: [any Service] = [
            ProxyService(
                proxy: proxy,
                host: config.server.listen.host,
                port: config.server.listen.port,
                protocols: protocols,
                drainTimeout: config.server.drainTimeout,
                logger: logger,
                onListening: onListening
            ),
            PeriodicService(period: .milliseconds(250)) { await controller.tick() },
            PeriodicService(period: .seconds(2)) { writer.probe() },
            HangupReloadService(operations: bridge, logger: logger),
            AdminService(
                operations: bridge,
                host: config.admin.listen.host,
                port: config.admin.listen.port,
                access: access,
                tls: adminTLS,
                logger: logger,
                onListening: onAdminListening
            ),
        ]
        // The measurement collector: alone, a service of its own; in a fleet, the coordinator's
        // beat, which reports exactly the seconds it collected.
        if let coordinator {
            services.append(FleetService(coordinator: coordinator))
        } else {
            services.append(PeriodicService(period: .seconds(1)) { await proxy.collect() })
        }
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
        if await !writer.flush(timeout: config.server.drainTimeout) {
            logger.error(
                "stopping with rollout events the store did not take; they are kept in the journal and stored at the next start",
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
