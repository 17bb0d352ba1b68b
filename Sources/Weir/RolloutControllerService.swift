import ServiceLifecycle

/// Ticks the rollout controller a few times a second until graceful shutdown.
struct RolloutControllerService: Service {
    let controller: RolloutController
    let period: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                await controller.tick()
            }
        }
    }
}
