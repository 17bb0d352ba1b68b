import ServiceLifecycle
import WeirProxy

/// Moves finished seconds of measurements from the event loops into the shared windows once a
/// second, off the request path.
struct MeasurementCollector: Service {
    let proxy: ProxyServer
    let period: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                await proxy.collect()
            }
        }
    }
}
