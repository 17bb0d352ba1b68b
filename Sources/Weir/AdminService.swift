import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import WeirAdmin

/// The admin API listener as a lifecycle service.
struct AdminService: Service {
    let operations: any AdminOperations
    let host: String
    let port: Int
    let access: AdminAccess
    /// HTTPS (`admin.tls`); nil = cleartext.
    let tls: TLSConfiguration?
    let logger: Logger
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let logger = self.logger
        let onListening = self.onListening
        let application = Application(
            router: AdminRouter.make(operations: operations, access: access),
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: .init(address: .hostname(host, port: port), serverName: "weir"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info(
                    "weir admin API listening",
                    metadata: ["address": "\(host):\(port)", "scheme": "\(access.scheme)"])
                onListening(port)
            },
            logger: logger
        )
        try await application.run()
    }
}
