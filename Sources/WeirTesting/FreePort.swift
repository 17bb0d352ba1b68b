import NIOCore
import NIOPosix

/// Finds a loopback port nothing listens on, for configs that must name a port before the
/// process using it starts (child processes, refused-connection tests).
public enum FreePort {
    public static func find() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}
