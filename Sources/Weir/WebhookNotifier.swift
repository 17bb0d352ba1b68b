import AsyncHTTPClient
import Foundation
import Logging
import Synchronization
import WeirCore
import WeirHTTPClient

/// Delivers rollout events to the policy's webhooks: a JSON POST per subscribed URL over
/// async-http-client (`https://` verified against the system's or the webhook's `ca`), retried
/// with exponential backoff, in its own task — never in the way of the data plane or the
/// controller. A receiver whose certificate does not verify is never sent the event; the refusal
/// is counted apart (`tlsRefused`).
public final class WebhookNotifier: Sendable {
    /// Deliveries so far, for metrics and tests.
    public struct Counts: Sendable, Hashable {
        public var delivered = 0
        public var failedAttempts = 0
        public var abandoned = 0
        /// Attempts refused during the TLS handshake (a certificate that does not verify).
        public var tlsRefused = 0

        public init(delivered: Int = 0, failedAttempts: Int = 0, abandoned: Int = 0, tlsRefused: Int = 0) {
            self.delivered = delivered
            self.failedAttempts = failedAttempts
            self.abandoned = abandoned
            self.tlsRefused = tlsRefused
        }
    }

    private let logger: Logger
    private let attempts: Int
    private let firstBackoff: Duration
    private let counts = Mutex(Counts())
    /// One client per CA file ("" = the system's roots), kept for the life of the process.
    private static let clients = Mutex<[String: HTTPClient]>([:])

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
            Task { await self.deliver(body, to: hook, event: event) }
        }
    }

    static func trigger(for kind: RolloutTransition.Kind) -> Webhook.Trigger? {
        switch kind {
        case .rollback: .rollback
        case .promote: .promote
        case .step: .step
        case .pause: .pause
        case .alert: .alert
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

    private func deliver(_ body: [UInt8], to hook: Webhook, event: RolloutEvent) async {
        let url = hook.url
        var backoff = firstBackoff
        for attempt in 1...attempts {
            do {
                let status = try await Self.post(body, to: hook)
                if (200..<300).contains(status) {
                    counts.withLock { $0.delivered += 1 }
                    return
                }
                logger.warning(
                    "webhook answered \(status)",
                    metadata: ["url": "\(url)", "route": "\(event.route)", "attempt": "\(attempt)"])
            } catch {
                if ControlHTTPClient.isTLSFailure(error) { counts.withLock { $0.tlsRefused += 1 } }
                logger.warning(
                    ControlHTTPClient.isTLSFailure(error)
                        ? "webhook receiver refused: its TLS handshake failed (certificate not trusted?)"
                        : "webhook delivery failed",
                    metadata: [
                        "url": "\(url)", "route": "\(event.route)", "attempt": "\(attempt)",
                        "error": "\(ControlHTTPClient.describe(error))",
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
    static func post(_ body: [UInt8], to hook: Webhook) async throws -> Int {
        let client = try clients.withLock { clients in
            if let client = clients[hook.caFile ?? ""] { return client }
            let client = try ControlHTTPClient.makeClient(tls: .init(caFile: hook.caFile))
            clients[hook.caFile ?? ""] = client
            return client
        }
        return try await ControlHTTPClient.send(
            client, method: "POST", url: hook.url,
            headers: [("content-type", "application/json"), ("user-agent", "weir")], body: body
        ).status
    }
}
