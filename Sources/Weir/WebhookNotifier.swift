import Foundation
import Logging
import Synchronization
import WeirCore
import WeirHTTPClient

/// Delivers rollout events to the policy's webhooks: a JSON POST per subscribed URL, retried with
/// exponential backoff, in its own task — never in the way of the data plane or the controller.
public final class WebhookNotifier: Sendable {
    /// Deliveries so far, for metrics and tests.
    public struct Counts: Sendable, Hashable {
        public var delivered = 0
        public var failedAttempts = 0
        public var abandoned = 0

        public init(delivered: Int = 0, failedAttempts: Int = 0, abandoned: Int = 0) {
            self.delivered = delivered
            self.failedAttempts = failedAttempts
            self.abandoned = abandoned
        }
    }

    private let logger: Logger
    private let attempts: Int
    private let firstBackoff: Duration
    private let counts = Mutex(Counts())

    public init(logger: Logger, attempts: Int = 5, firstBackoff: Duration = .milliseconds(500)) {
        self.logger = logger
        self.attempts = attempts
        self.firstBackoff = firstBackoff
    }

    public var deliveryCounts: Counts { counts.withLock { $0 } }

    /// Sends `event` to every webhook of `policy` subscribed to its kind.
    public func notify(_ event: RolloutEvent, policy: RolloutPolicy) {
        guard let trigger = Self.trigger(for: event.kind) else { return }
        let hooks = policy.webhooks.filter { $0.on.contains(trigger) }
        guard !hooks.isEmpty else { return }
        let body = Self.payload(event, trigger: trigger)
        for hook in hooks {
            Task { await self.deliver(body, to: hook.url, event: event) }
        }
    }

    static func trigger(for kind: RolloutTransition.Kind) -> Webhook.Trigger? {
        switch kind {
        case .rollback: .rollback
        case .promote: .promote
        case .step: .step
        case .pause: .pause
        default: nil
        }
    }

    static func payload(_ event: RolloutEvent, trigger: Webhook.Trigger) -> [UInt8] {
        let object: [String: Any] = [
            "event": trigger.rawValue,
            "at": ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(event.at) / 1000)),
            "route": event.route,
            "from": event.from.rawValue,
            "to": event.to.rawValue,
            "step": event.toStep,
            "weights": event.weights,
            "actor": event.actor.rawValue,
            "reason": event.reason,
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    private func deliver(_ body: [UInt8], to url: String, event: RolloutEvent) async {
        var backoff = firstBackoff
        for attempt in 1...attempts {
            do {
                let status = try await Self.post(body, to: url)
                if (200..<300).contains(status) {
                    counts.withLock { $0.delivered += 1 }
                    return
                }
                logger.warning(
                    "webhook answered \(status)",
                    metadata: ["url": "\(url)", "route": "\(event.route)", "attempt": "\(attempt)"])
            } catch {
                logger.warning(
                    "webhook delivery failed",
                    metadata: [
                        "url": "\(url)", "route": "\(event.route)", "attempt": "\(attempt)", "error": "\(error)",
                    ])
            }
            counts.withLock { $0.failedAttempts += 1 }
            if attempt < attempts {
                try? await Task.sleep(for: backoff)
                backoff *= 2
            }
        }
        counts.withLock { $0.abandoned += 1 }
        logger.error(
            "webhook abandoned after \(attempts) attempts", metadata: ["url": "\(url)", "route": "\(event.route)"])
    }

    /// One POST; returns the status code.
    static func post(_ body: [UInt8], to url: String) async throws -> Int {
        try await OneShotHTTPClient.send(
            method: "POST", url: url, headers: [("content-type", "application/json")], body: body, timeout: .seconds(10)
        ).status
    }
}
