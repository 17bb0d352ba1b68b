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
    let protocols: ListenerProtocols
    let drainTimeout: Duration
    let logger: Logger
    /// Reports the bound port once listening (tests and `make run` read it).
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let address = try await proxy.start(host: host, port: port, protocols: protocols)
        let speaks = [protocols.tls != nil ? "https (h2, http/1.1)" : "http/1.1", protocols.h2c ? "h2c" : nil]
        logger.info(
            "weir data plane listening",
            metadata: ["address": "\(address)", "protocols": "\(speaks.compactMap { $0 }.joined(separator: ", "))"])
        onListening(address.port ?? port)
        try? await gracefulShutdown()
        logger.info("draining in-flight requests", metadata: ["timeout": "\(drainTimeout)"])
        await proxy.shutdown(drainTimeout: drainTimeout)
    }
}
