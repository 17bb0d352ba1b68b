import Foundation
import NIOCore
import NIOPosix
import WeirConfig
import WeirCore
import WeirDemo
import Testing
import WeirProxy

/// A real data plane on 127.0.0.1 (port 0) in the test process, configured from YAML.
struct ProxyHarness {
    let proxy: ProxyServer
    let port: Int
    let config: WeirConfiguration

    static func run<T>(
        yaml: String,
        seed: UInt64 = 42,
        limits: ConnectionLimits = ConnectionLimits(),
        _ body: (ProxyHarness) async throws -> T
    ) async throws -> T {
        let config = try ConfigLoader.parse(yaml: yaml, file: "test.yaml")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let proxy = try await ProxyServer(
            group: group, measurements: Measurements(capacitySeconds: 60), limits: limits, seed: seed)
        await proxy.publish(RoutingTable(initialFor: config.routes))
        let address = try await proxy.start(host: "127.0.0.1", port: 0)
        let harness = ProxyHarness(proxy: proxy, port: address.port!, config: config)
        do {
            let result = try await body(harness)
            await proxy.shutdown(drainTimeout: .seconds(1))
            try await group.shutdownGracefully()
            return result
        } catch {
            await proxy.shutdown(drainTimeout: .seconds(1))
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Waits until the current second is over, then collects, so every request made so far is in
    /// `proxy.measurements`.
    func settleMeasurements() async {
        // The recorders bucket by seconds of the monotonic clock NIO uses.
        let intoSecond = NIODeadline.now().uptimeNanoseconds % 1_000_000_000
        try? await Task.sleep(for: .nanoseconds(Int(1_000_000_000 - intoSecond) + 50_000_000))
        await proxy.collect()
    }

    func lifetime(route: String, version: String) -> (requests: UInt64, errorsByKind: [UInt64]) {
        proxy.measurements.lifetime(for: SeriesKey(route: route, version: version))
    }
}

/// Starts demo model servers for a test and stops them afterwards.
func withDemoServers<T>(
    _ behaviors: [DemoModelBehavior],
    _ body: ([DemoModelServer]) async throws -> T
) async throws -> T {
    var servers: [DemoModelServer] = []
    for behavior in behaviors { servers.append(try await DemoModelServer.start(behavior: behavior)) }
    return try await withRunning(servers, stop: { await $0.stop() }, body)
}

/// Runs `body` with started servers and stops them afterwards, also when `body` throws.
func withRunning<Server, T>(
    _ servers: [Server], stop: (Server) async -> Void, _ body: ([Server]) async throws -> T
) async throws -> T {
    do {
        let result = try await body(servers)
        for server in servers { await stop(server) }
        return result
    } catch {
        for server in servers { await stop(server) }
        throw error
    }
}

/// A two-version route whose rollout moves in seconds: 1 s windows after a 200 ms warm-up, 10
/// canary requests for a verdict, two failed windows (error rate 5 points above stable) roll back.
/// `extra` adds route keys (indented four spaces); `routesLine: false` leaves out `routes:` so
/// several routes can be joined; `checks: false` leaves the policy without written checks.
func fastRolloutRoute(
    stable: String, canary: String, pathPrefix: String = "/", name: String = "fraud", steps: String = "[20, 50]",
    extra: String = "", routesLine: Bool = true, checks: Bool = true
) -> String {
    """
    \(routesLine ? "routes:" : "")
      - name: \(name)
        match: { path_prefix: \(pathPrefix) }
        versions:
          v1: { upstreams: ["\(stable)"] }
          v2: { upstreams: ["\(canary)"] }
        stable: v1
        canary: v2
    \(extra)
        policy:
          steps: \(steps)
          interval: 1s
          warmup: 200ms
          min_requests: 10
          failure_limit: 2
    \(checks ? "      checks:\n        - { metric: error_rate, max_increase: 0.05 }" : "")
    """
}

/// A one-route config in front of the given version URLs.
func routeYAML(
    versions: [(String, String)],
    stable: String = "v1",
    canary: String? = "v2",
    steps: String = "[10, 50]",
    timeout: String = "10s",
    pathPrefix: String = "/",
    extra: String = ""
) -> String {
    let versionLines = versions.map { "      \($0.0): { upstreams: [\"\($0.1)\"] }" }.joined(separator: "\n")
    return """
        routes:
          - name: fraud
            match: { path_prefix: \(pathPrefix) }
            timeout: \(timeout)
            versions:
        \(versionLines)
            stable: \(stable)
        \(canary.map { "    canary: \($0)" } ?? "")
        \(extra)
            policy:
              steps: \(steps)
        """
}

/// The parent of every integration suite: `.serialized` makes them run one after another, so
/// tests that time a rollout or measure a process's memory do not compete with a load test.
@Suite(.serialized) struct IntegrationTests {}
