import Logging
import NIOCore
import ServiceLifecycle
import WeirProxy

/// Runs the data-plane listener as a lifecycle service: listens until graceful shutdown, then
/// stops accepting and drains in-flight requests for at most `drainTimeout`.
struct ProxyService: Service {
    let proxy: ProxyServer
    let host: String
    let port: Int
    let drainTimeout: Duration
    let logger: Logger
    /// Reports the bound port once listening (tests and `make run` read it).
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let address = try await proxy.start(host: host, port: port)
        logger.info("weir data plane listening", metadata: ["address": "\(address)"])
        onListening(address.port ?? port)
        try? await gracefulShutdown()
        logger.info("draining in-flight requests", metadata: ["timeout": "\(drainTimeout)"])
        await proxy.shutdown(drainTimeout: drainTimeout)
    }
}
