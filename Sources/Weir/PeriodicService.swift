import ServiceLifecycle

/// Runs `action` every `period` until graceful shutdown: the measurement collector (moving
/// finished seconds off the event loops) and the rollout controller's tick.
struct PeriodicService: Service {
    let period: Duration
    let action: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                await action()
            }
        }
    }
}
