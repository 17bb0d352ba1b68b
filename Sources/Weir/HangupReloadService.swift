import Logging
import ServiceLifecycle
import UnixSignals
import WeirAdmin

/// Re-reads the config on SIGHUP, like `POST /v1/reload`: a valid file replaces the routes with no
/// dropped request, an invalid one is logged with every error and the running config stays.
struct HangupReloadService: Service {
    let operations: any AdminOperations
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                switch await operations.reload() {
                case .success(let routes):
                    logger.notice("config reloaded on SIGHUP", metadata: ["routes": "\(routes)"])
                case .failure(let refusal):
                    logger.error(
                        "config refused on SIGHUP; the running config stays",
                        metadata: ["errors": "\(refusal.errors.joined(separator: "; "))"]
                    )
                }
            }
        }
    }
}
